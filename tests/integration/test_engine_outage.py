"""No message lost when the dialogue engine is down: hold once, stay pending, retry, or hand off."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import texts
from bot.dialogue import BotReply, DialogueUnavailable
from bot.gateway import SESSION_START_TEXT, Inbound
from bot.retrier import PendingRetrier
from server.clock import FixedClock
from server.container import Container
from server.db.models import Author, Conversation, ConversationState, Direction, Handoff, Message

ANA = "+5531991234567"


class OutageDialogue:
    """Echoes each message; while ``down`` it fails like Rasa or its action server being away."""

    def __init__(self) -> None:
        self.down = False
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def send(self, sender: str, text: str, metadata: dict[str, Any]) -> list[BotReply]:
        self.calls.append((text, metadata))
        if self.down:
            raise DialogueUnavailable("engine down")
        return [BotReply(f"eco: {text}")]

    def is_ready(self) -> bool:
        return not self.down


def say(client: TestClient, text: str) -> list[str]:
    r = client.post("/channels/sandbox/messages", json={"sender": ANA, "text": text})
    assert r.status_code == 200
    return [m["text"] for m in r.json()["messages"]]


def transcript(session: Session) -> list[tuple[str, str]]:
    session.expire_all()
    rows = session.scalars(select(Message).order_by(Message.id))
    return [(m.direction.value, m.text) for m in rows]


def retry_now(container: Container) -> int:
    retrier = PendingRetrier(lambda: container.gateway, container.turns, container.engine_health, grace_s=-60)
    scheduled = retrier.sweep()
    assert container.turns.wait_idle(30)
    return scheduled


def test_an_outage_holds_once_then_answers_every_message_in_order(
    container: Container, client: TestClient, session: Session
) -> None:
    dialogue = OutageDialogue()
    container.dialogue = dialogue
    dialogue.down = True
    assert say(client, "quanto devo?") == [texts.ASSISTANT_UNAVAILABLE]
    assert say(client, "alô?") == []  # queued behind the first, no second holding reply
    assert say(client, "tem alguém aí?") == []
    pending = session.scalars(select(Message.processing).where(Message.direction == Direction.INBOUND))
    assert [p.value for p in pending] == ["pending"] * 3

    assert retry_now(container) == 1  # still down: nothing answered, nothing lost, no new hold
    assert transcript(session).count(("outbound", texts.ASSISTANT_UNAVAILABLE)) == 1
    assert container.engine_health.failures >= 2

    dialogue.down = False
    assert retry_now(container) == 1
    assert [t for d, t in transcript(session) if d == "outbound"] == [
        texts.ASSISTANT_UNAVAILABLE, "eco: quanto devo?", "eco: alô?", "eco: tem alguém aí?",
    ]  # fmt: skip
    assert container.engine_health.failures == 0
    assert retry_now(container) == 0  # nothing left pending
    # The retried message said so, with its id, so Rasa's launcher can refuse a second turn.
    first_id = session.scalar(select(Message.id).where(Message.text == "quanto devo?"))
    retried = [m for text, m in dialogue.calls if text == "quanto devo?"]
    assert "negocia_retry" not in retried[0] and retried[-1]["negocia_retry"] is True
    assert {m["negocia_message_id"] for m in retried} == {first_id}


def test_a_long_outage_hands_the_conversation_to_a_person(
    container: Container, client: TestClient, session: Session
) -> None:
    dialogue = OutageDialogue()
    container.dialogue = dialogue
    dialogue.down = True
    say(client, "quero pagar")
    assert isinstance(container.clock, FixedClock)
    container.clock.at += timedelta(minutes=container.settings.engine_handoff_after_minutes + 1)
    retry_now(container)
    conversation = session.scalar(select(Conversation))
    assert conversation is not None and conversation.state == ConversationState.WAITING_HUMAN
    handoff = session.scalar(select(Handoff))
    assert handoff is not None and handoff.reason == "engine_unavailable"
    assert texts.ENGINE_HANDOFF_NOTE in handoff.summary
    outbound = [t for d, t in transcript(session) if d == "outbound"]
    assert outbound == [texts.ASSISTANT_UNAVAILABLE, texts.WAITING_FOR_HUMAN]
    assert retry_now(container) == 0  # processed: the collector has it now


def test_a_message_answered_before_a_crash_is_not_answered_again(
    container: Container, client: TestClient, session: Session
) -> None:
    say(client, "oi")  # echo dialogue of the fixture
    message = session.scalar(select(Message).where(Message.text == "oi"))
    assert message is not None
    # The server died after delivering the reply and before marking the message processed.
    message.processing = message.processing.__class__("pending")
    session.commit()
    retry_now(container)
    replies = session.scalars(select(Message).where(Message.reply_to_id == message.id))
    assert [(m.author, m.text) for m in replies] == [(Author.BOT, "eco: oi")]


def test_a_long_conversation_starts_a_new_rasa_session_every_n_messages(
    container: Container, client: TestClient
) -> None:
    dialogue = OutageDialogue()
    container.dialogue = dialogue
    container.settings.rasa_session_max_turns = 3
    for i in range(7):
        say(client, f"mensagem {i}")
    sent = [text for text, _m in dialogue.calls]
    assert sent == [
        "mensagem 0", "mensagem 1", "mensagem 2", SESSION_START_TEXT, "mensagem 3", "mensagem 4",
        "mensagem 5", SESSION_START_TEXT, "mensagem 6",
    ]  # fmt: skip


def test_messages_are_numbered_at_intake_and_older_ones_are_counted(
    container: Container, client: TestClient, session: Session
) -> None:
    """The rotation reads the number intake gave a message; a message stored before numbering
    (pending through an upgrade) is counted instead, with the same result."""
    dialogue = OutageDialogue()
    container.dialogue = dialogue
    container.settings.rasa_session_max_turns = 3
    for i in range(3):
        say(client, f"mensagem {i}")
    inbound = session.scalars(
        select(Message).where(Message.direction == Direction.INBOUND).order_by(Message.id)
    ).all()
    assert [m.ordinal for m in inbound] == [1, 2, 3]
    conversation = session.get(Conversation, inbound[0].conversation_id)
    assert conversation is not None and conversation.inbound_count == 3

    # The fourth message as an older server stored it: no number, and not counted at intake.
    dialogue.calls.clear()
    accepted = container.gateway.accept(Inbound(conversation.channel, conversation.address, "mensagem 3"))
    fourth = session.get(Message, accepted.message_id)
    assert fourth is not None and fourth.ordinal == 4
    fourth.ordinal = None
    conversation.inbound_count = 3
    session.commit()
    retry_now(container)
    assert [text for text, _m in dialogue.calls] == [SESSION_START_TEXT, "mensagem 3"]
