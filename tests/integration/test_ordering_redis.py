"""Per-conversation ordering with Redis locks (the real Redis at 127.0.0.1:6379, own key prefix):
one server, and two gateway instances (two Containers on the same database and Redis) receiving
one sender's messages concurrently; on SQLite (file) and PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.locks import RedisLocks
from bot.outbox import RetryPolicy
from server.clock import FixedClock
from server.container import Container, whatsapp_channel
from server.db.models import Channel, Direction, Message, Processing
from server.db.session import make_engine, make_session_factory
from server.main import create_app
from server.settings import Settings
from tests.fakes_twilio import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    PUBLIC_BASE_URL,
    WHATSAPP_FROM,
    FakeTwilio,
    inbound_form,
    signed_post,
)
from tests.integration.conftest import NOW
from tests.integration.test_whatsapp_webhook import SlowEchoDialogue

ANA = "+5531991234567"
WORDS = ["um", "dois", "três", "quatro", "cinco", "seis"]


@pytest.fixture
def dialogue() -> SlowEchoDialogue:
    return SlowEchoDialogue()


def redis_container(
    settings: Settings, dialogue: SlowEchoDialogue, fake: FakeTwilio, client: redis.Redis, prefix: str
) -> Container:
    """A server process of its own: engine, pool, turn threads; the database and Redis shared."""
    settings = settings.model_copy(
        update={
            "twilio_account_sid": ACCOUNT_SID,
            "twilio_auth_token": SecretStr(AUTH_TOKEN),
            "twilio_whatsapp_from": WHATSAPP_FROM,
            "twilio_api_base_url": fake.url,
            "public_base_url": PUBLIC_BASE_URL,
        }
    )
    engine = make_engine(settings.database_url)
    container = Container(
        settings=settings,
        engine=engine,
        session_factory=make_session_factory(engine),
        dialogue=dialogue,
        locks=RedisLocks(client, prefix=prefix, timeout_s=30),
        clock=FixedClock(NOW),
        retry=RetryPolicy(sleep=lambda _s: None),
    )
    container.channels[Channel.WHATSAPP] = whatsapp_channel(
        settings, container.session_factory, container.clock
    )
    return container


def post(client: TestClient, text: str) -> int:
    body, headers = signed_post(inbound_form(ANA, text))
    return client.post("/channels/whatsapp", content=body, headers=headers).status_code


def inbound(session: Session) -> list[Message]:
    session.expire_all()
    stmt = select(Message).where(Message.direction == Direction.INBOUND).order_by(Message.id)
    return list(session.scalars(stmt))


def check_in_order(session: Session, dialogue: SlowEchoDialogue, fake: FakeTwilio) -> None:
    arrival = [m.text for m in inbound(session)]
    assert sorted(arrival) == sorted(WORDS[: len(arrival)]) and len(arrival) == len(set(arrival))
    assert all(m.processing == Processing.PROCESSED for m in inbound(session))
    assert [call[1] for call in dialogue.calls] == arrival  # once each, in arrival (id) order
    assert dialogue.max_in_flight == 1  # never two turns of one sender at once
    assert fake.bodies_to(ANA) == [f"eco: {w}\n\n1. Sim" for w in arrival]


def test_five_concurrent_messages_from_one_sender_are_processed_in_order_with_redis_locks(
    settings: Settings,
    dialogue: SlowEchoDialogue,
    fake_twilio: FakeTwilio,
    redis_prefix: tuple[redis.Redis, str],
    session: Session,
) -> None:
    container = redis_container(settings, dialogue, fake_twilio, *redis_prefix)
    with TestClient(create_app(container=container)) as client:
        with ThreadPoolExecutor(5) as pool:
            assert list(pool.map(lambda w: post(client, w), WORDS[:5])) == [200] * 5
        assert container.turns.wait_idle(60)
    container.close()
    check_in_order(session, dialogue, fake_twilio)


def test_two_gateway_instances_process_one_senders_messages_once_each_in_order(
    settings: Settings,
    dialogue: SlowEchoDialogue,
    fake_twilio: FakeTwilio,
    redis_prefix: tuple[redis.Redis, str],
    session: Session,
) -> None:
    first = redis_container(settings, dialogue, fake_twilio, *redis_prefix)
    second = redis_container(settings, dialogue, fake_twilio, *redis_prefix)
    with TestClient(create_app(container=first)) as a, TestClient(create_app(container=second)) as b:
        clients = [a, b] * 3  # alternately to each instance, all at once (a load balancer)
        with ThreadPoolExecutor(6) as pool:
            statuses = list(pool.map(post, clients, WORDS))
        assert statuses == [200] * 6
        assert first.turns.wait_idle(60) and second.turns.wait_idle(60)
    first.close()
    second.close()
    check_in_order(session, dialogue, fake_twilio)
    # A retry of each message, to either instance, runs nothing again.
    third = redis_container(settings, dialogue, fake_twilio, *redis_prefix)
    with TestClient(create_app(container=third)) as c:
        for m in inbound(session):
            body, headers = signed_post(inbound_form(ANA, m.text, m.provider_message_id or ""))
            assert c.post("/channels/whatsapp", content=body, headers=headers).status_code == 200
        assert third.turns.wait_idle(60)
    third.close()
    assert len(dialogue.calls) == 6
