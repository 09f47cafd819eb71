"""Fixtures for the console and handoff tests: a container with a fake tracker sync, staff
users and a conversation waiting for a person."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.locks import LocalLocks
from server.clock import FixedClock
from server.container import Container
from server.db.models import Channel, Conversation, ConversationState, Handoff, Role
from server.main import create_app
from server.services.handoffs import request_handoff
from server.services.users import create_user
from server.settings import Settings
from tests.fakes import EchoDialogue
from tests.fakes_console import FakeTrackerSync
from tests.integration.conftest import NOW

PASSWORD = "senha-muito-secreta"
ANA_PHONE = "+5531991234567"


class ConsoleWorld:
    def __init__(
        self, container: Container, client: TestClient, sync: FakeTrackerSync, dialogue: EchoDialogue
    ):
        self.container = container
        self.client = client
        self.sync = sync
        self.dialogue = dialogue

    def token(self, email: str) -> dict[str, str]:
        r = self.client.post("/api/auth/token", data={"username": email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    def say(self, text: str, sender: str = ANA_PHONE) -> list[dict]:
        r = self.client.post("/channels/sandbox/messages", json={"sender": sender, "text": text})
        assert r.status_code == 200, r.text
        return r.json()["messages"]

    def inbox(self, recipient: str = ANA_PHONE) -> list[str]:
        r = self.client.get("/channels/sandbox/messages", params={"recipient": recipient})
        return [m["text"] for m in r.json()["messages"]]


@pytest.fixture
def sync() -> FakeTrackerSync:
    return FakeTrackerSync()


@pytest.fixture
def world(
    settings: Settings,
    engine: Engine,
    session_factory: sessionmaker[Session],
    dialogue: EchoDialogue,
    sync: FakeTrackerSync,
    portfolio: dict[str, int],
) -> Iterator[ConsoleWorld]:
    container = Container(
        settings=settings, engine=engine, session_factory=session_factory, dialogue=dialogue,
        locks=LocalLocks(), clock=FixedClock(NOW), tracker_sync=sync,
    )  # fmt: skip
    with session_factory() as s:
        create_user(s, "cobra1@example.com", PASSWORD, Role.COLLECTOR, "Carla Cobradora")
        create_user(s, "cobra2@example.com", PASSWORD, Role.COLLECTOR, "Bruno Cobrador")
        create_user(s, "admin@example.com", PASSWORD, Role.ADMIN, "Alice Admin")
        s.commit()
    with TestClient(create_app(container=container)) as client:
        yield ConsoleWorld(container, client, sync, dialogue)


def waiting_conversation(
    session_factory: sessionmaker[Session], contact_id: int | None, reason: str = "request_human",
    address: str = ANA_PHONE,
) -> tuple[str, int]:  # fmt: skip
    """A verified sandbox conversation handed to the collectors: (public id, handoff id)."""
    with session_factory() as s:
        conversation = s.query(Conversation).filter_by(channel=Channel.SANDBOX, address=address).one_or_none()
        if conversation is None:
            conversation = Conversation(channel=Channel.SANDBOX, address=address)
            s.add(conversation)
        conversation.contact_id = contact_id
        conversation.verified_at = NOW if contact_id else None
        s.flush()
        result = request_handoff(s, conversation, reason, NOW, note="quero falar com alguém")
        s.commit()
        assert conversation.state == ConversationState.WAITING_HUMAN
        return conversation.public_id, result.handoff.id


def handoff(session_factory: sessionmaker[Session], handoff_id: int) -> Handoff:
    with session_factory() as s:
        found = s.get(Handoff, handoff_id)
        assert found is not None
        _ = found.conversation
        return found
