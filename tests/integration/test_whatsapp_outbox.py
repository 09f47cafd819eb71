"""Outbound delivery through the outbox and the WhatsApp adapter, against the fake Twilio."""

from __future__ import annotations

import json
import socket
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.channels.base import MessageKind, OutboundMessage, OutsideSessionWindow
from bot.channels.whatsapp import WhatsAppChannel, last_inbound_from_db, twilio_client
from bot.dialogue import BotReply, Button
from server.clock import FixedClock
from server.container import Container
from server.db.models import Author, Channel, Conversation, Message
from tests.fakes_twilio import ACCOUNT_SID, AUTH_TOKEN, WHATSAPP_FROM, FakeTwilio, Scripted
from tests.integration.conftest import NOW

ANA = "+5531991234567"


@pytest.fixture
def conversation(whatsapp: Container, session: Session) -> Conversation:
    """Ana wrote to us a minute ago (inside the 24-hour window)."""
    conversation = Conversation(
        channel=Channel.WHATSAPP, address=ANA, last_inbound_at=NOW - timedelta(minutes=1)
    )
    session.add(conversation)
    session.commit()
    return conversation


def stored(session: Session, message_id: int) -> Message:
    session.expire_all()
    message = session.get(Message, message_id)
    assert message is not None
    return message


def test_text_is_sent_and_recorded(
    whatsapp: Container, conversation: Conversation, fake_twilio: FakeTwilio, session: Session
) -> None:
    (message_id,) = whatsapp.outbox.deliver(conversation.public_id, [BotReply("Olá!")], author=Author.BOT)
    (sent,) = fake_twilio.sent
    assert (sent["to"], sent["body"]) == (f"whatsapp:{ANA}", "Olá!")
    assert fake_twilio.calls[0].path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert fake_twilio.calls[0].account_sid == ACCOUNT_SID
    message = stored(session, message_id)
    assert (message.provider_message_id, message.status, message.attempts) == (sent["sid"], "queued", 1)
    assert message.sent_at == NOW and message.error_code is None


def test_twilio_500_then_201_is_delivered_once(
    whatsapp: Container, conversation: Conversation, fake_twilio: FakeTwilio, session: Session
) -> None:
    fake_twilio.fail_next(500, 20500, "Internal Server Error")
    (message_id,) = whatsapp.outbox.deliver(conversation.public_id, [BotReply("Olá!")], author=Author.BOT)
    assert len(fake_twilio.calls) == 2 and len(fake_twilio.sent) == 1
    message = stored(session, message_id)
    assert (message.status, message.attempts, message.error_code) == ("queued", 2, None)


def test_429_is_retried_with_backoff_until_the_attempts_run_out(
    whatsapp: Container, conversation: Conversation, fake_twilio: FakeTwilio, session: Session
) -> None:
    waits: list[float] = []
    whatsapp.retry = type(whatsapp.retry)(max_attempts=3, base_delay_s=0.5, sleep=waits.append)
    for _ in range(3):
        fake_twilio.fail_next(429, 20429, "Too Many Requests")
    (message_id,) = whatsapp.outbox.deliver(conversation.public_id, [BotReply("Olá!")], author=Author.BOT)
    assert waits == [0.5, 1.0]
    message = stored(session, message_id)
    assert (message.status, message.attempts, message.error_code) == ("failed", 3, "20429")


def test_400_is_not_retried_and_the_failure_is_on_the_record(
    whatsapp: Container, conversation: Conversation, fake_twilio: FakeTwilio, session: Session
) -> None:
    fake_twilio.fail_next(400, 21211, "Invalid 'To' Phone Number")
    ids = whatsapp.outbox.deliver(conversation.public_id, [BotReply("a"), BotReply("b")], author=Author.BOT)
    assert len(fake_twilio.calls) == 2  # one per message: the refused one was not retried
    failed, delivered = (stored(session, i) for i in ids)
    assert (failed.status, failed.attempts, failed.error_code) == ("failed", 1, "21211")
    assert "Invalid 'To' Phone Number" in (failed.error_message or "")
    assert failed.provider_message_id is None
    assert delivered.status == "queued"


def test_network_errors_are_retried_then_recorded(
    whatsapp: Container, conversation: Conversation, session: Session
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    whatsapp.channels[Channel.WHATSAPP] = WhatsAppChannel(
        twilio_client(ACCOUNT_SID, AUTH_TOKEN, f"http://127.0.0.1:{closed_port}"),
        WHATSAPP_FROM,
        last_inbound_from_db(whatsapp.session_factory),
        whatsapp.clock,
    )
    (message_id,) = whatsapp.outbox.deliver(conversation.public_id, [BotReply("Olá!")], author=Author.BOT)
    message = stored(session, message_id)
    assert (message.status, message.attempts, message.error_code) == ("failed", 4, "network")


def test_options_become_numbered_lines(
    whatsapp: Container, conversation: Conversation, fake_twilio: FakeTwilio
) -> None:
    reply = BotReply(
        "Qual opção você prefere?", [Button("PIX à vista R$ 950,00", "/a"), Button("3x de R$ 340,00", "/b")]
    )
    whatsapp.outbox.deliver(conversation.public_id, [reply], author=Author.BOT)
    assert (
        fake_twilio.sent[0]["body"]
        == "Qual opção você prefere?\n\n1. PIX à vista R$ 950,00\n2. 3x de R$ 340,00"
    )


def test_image_and_document_go_as_media_on_their_links(
    whatsapp: Container, conversation: Conversation, fake_twilio: FakeTwilio
) -> None:
    qr = "https://negocia.example.com/public/agreements/a1/installments/0/qr.png?exp=1&sig=s"
    term = "https://negocia.example.com/public/agreements/a1/term.pdf?exp=1&sig=s"
    whatsapp.outbox.deliver(
        conversation.public_id,
        [BotReply("QR Code do PIX", image=qr), BotReply("Termo de acordo", document=term)],
        author=Author.BOT,
    )
    image, document = fake_twilio.sent
    assert (image["body"], image["media_url"]) == ("QR Code do PIX", [qr])
    assert (document["body"], document["media_url"]) == ("Termo de acordo", [term])


def test_free_text_outside_the_24_hour_window_is_refused_by_us(
    whatsapp: Container, conversation: Conversation, fake_twilio: FakeTwilio, session: Session
) -> None:
    conversation.last_inbound_at = NOW - timedelta(hours=24, seconds=1)
    session.commit()
    (message_id,) = whatsapp.outbox.deliver(
        conversation.public_id, [BotReply("Olá!")], author=Author.COLLECTOR
    )
    assert fake_twilio.calls == []
    message = stored(session, message_id)
    assert (message.status, message.attempts) == ("failed", 1)
    assert "24 horas" in (message.error_message or "")


def test_a_contact_who_never_wrote_gets_no_free_text(
    whatsapp: Container, fake_twilio: FakeTwilio, session: Session
) -> None:
    cold = Conversation(channel=Channel.WHATSAPP, address="+5548996665555")
    session.add(cold)
    session.commit()
    (message_id,) = whatsapp.outbox.deliver(cold.public_id, [BotReply("Olá!")], author=Author.SYSTEM)
    assert fake_twilio.calls == [] and stored(session, message_id).status == "failed"


def test_a_template_is_allowed_outside_the_window(
    whatsapp: Container, conversation: Conversation, fake_twilio: FakeTwilio, session: Session
) -> None:
    conversation.last_inbound_at = NOW - timedelta(days=3)
    session.commit()
    template = OutboundMessage.of_template("HX" + "1" * 32, {"1": "Ana", "2": "R$ 2.350,00"})
    message_id = whatsapp.outbox.send_message(conversation.public_id, template, author=Author.SYSTEM)
    (sent,) = fake_twilio.sent
    assert sent["content_sid"] == "HX" + "1" * 32
    assert json.loads(str(sent["content_variables"])) == {"1": "Ana", "2": "R$ 2.350,00"}
    assert stored(session, message_id).status == "queued"


def test_a_channel_that_is_off_records_the_failure(
    whatsapp: Container, conversation: Conversation, session: Session
) -> None:
    del whatsapp.channels[Channel.WHATSAPP]
    (message_id,) = whatsapp.outbox.deliver(conversation.public_id, [BotReply("Olá!")], author=Author.BOT)
    message = stored(session, message_id)
    assert (message.status, message.error_code) == ("failed", "channel_off")


def test_sandbox_replies_are_delivered_at_once(whatsapp: Container, session: Session) -> None:
    sandbox = Conversation(channel=Channel.SANDBOX, address=ANA)
    session.add(sandbox)
    session.commit()
    (message_id,) = whatsapp.outbox.deliver(sandbox.public_id, [BotReply("Olá!")], author=Author.BOT)
    assert stored(session, message_id).status == "delivered"
    assert session.scalar(select(Message.text).where(Message.id == message_id)) == "Olá!"


def test_scripted_201_body_fields_are_used(
    whatsapp: Container, conversation: Conversation, fake_twilio: FakeTwilio, session: Session
) -> None:
    fake_twilio.script(Scripted(201, {"sid": "SMfixed", "status": "accepted"}))
    (message_id,) = whatsapp.outbox.deliver(conversation.public_id, [BotReply("Olá!")], author=Author.BOT)
    message = stored(session, message_id)
    assert (message.provider_message_id, message.status) == ("SMfixed", "accepted")


def test_the_window_comes_from_the_message_when_the_sender_knows_it(fake_twilio: FakeTwilio) -> None:
    """The outbox passes the conversation's last inbound time: no lookup per message; an old
    time is still refused, and without one the channel looks it up."""
    lookups: list[str] = []

    def last_inbound(address: str):  # type: ignore[no-untyped-def]
        lookups.append(address)
        return NOW - timedelta(minutes=5)

    channel = WhatsAppChannel(
        twilio_client(ACCOUNT_SID, AUTH_TOKEN, fake_twilio.url), WHATSAPP_FROM, last_inbound,
        FixedClock(NOW),
    )  # fmt: skip
    recent = OutboundMessage(MessageKind.TEXT, "Olá!", last_inbound_at=NOW - timedelta(hours=23))
    assert channel.send(ANA, recent).provider_message_id and lookups == []
    stale = OutboundMessage(MessageKind.TEXT, "Olá!", last_inbound_at=NOW - timedelta(hours=25))
    with pytest.raises(OutsideSessionWindow):
        channel.send(ANA, stale)
    assert lookups == [] and len(fake_twilio.sent) == 1
    channel.send(ANA, OutboundMessage.of_text("Olá!"))
    assert lookups == [ANA] and len(fake_twilio.sent) == 2
