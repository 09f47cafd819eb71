"""Telegram outbound adapter against the fake Bot API: the calls made, errors mapped to
retryable or not, the Outbox's retry; and ``telegram-poll``'s polling application."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.channels.base import OutboundMessage, SendError
from bot.channels.telegram import TelegramChannel
from bot.dialogue import BotReply, Button
from bot.outbox import Outbox, RetryPolicy
from server.clock import FixedClock
from server.db.models import Author, Channel, Conversation, Direction, Message
from server.telegram_runtime import _application
from tests.fakes_telegram import FakeTelegram, running_fake, text_update
from tests.integration.conftest import NOW

CHAT = 4242


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with running_fake() as f:
        yield f


@pytest.fixture
def channel(fake: FakeTelegram) -> Iterator[TelegramChannel]:
    c = TelegramChannel(fake.token, fake.base_url)
    yield c
    c.close()


def test_each_kind_becomes_its_bot_api_call(fake: FakeTelegram, channel: TelegramChannel) -> None:
    channel.send(str(CHAT), OutboundMessage.of_text("Olá"))
    channel.send(str(CHAT), OutboundMessage.of_options("Escolha", [Button("PIX à vista", "/choose_option")]))
    channel.send(str(CHAT), OutboundMessage.of_image("https://x.example/qr.png", "QR"))
    channel.send(str(CHAT), OutboundMessage.of_document("https://x.example/t.pdf", "termo.pdf", "Termo"))
    result = channel.send(str(CHAT), OutboundMessage.of_template("HX123", {"1": "Ana", "2": "R$ 10,00"}))
    methods = [(c.method, c.params.get("text") or c.params.get("caption")) for c in fake.sent_to(CHAT)]
    assert methods == [
        ("sendMessage", "Olá"),
        ("sendMessage", "Escolha"),
        ("sendPhoto", "QR"),
        ("sendDocument", "Termo"),
        ("sendMessage", "Ana\nR$ 10,00"),  # no templates on Telegram: plain text
    ]
    assert fake.sent_to(CHAT)[1].params["reply_markup"] == {
        "inline_keyboard": [[{"text": "PIX à vista", "callback_data": "/choose_option"}]]
    }
    assert result.provider_message_id == f"tgm:{CHAT}:5"


def test_a_payload_too_long_for_callback_data_falls_back_to_the_title(
    fake: FakeTelegram, channel: TelegramChannel
) -> None:
    channel.send(str(CHAT), OutboundMessage.of_options("Escolha", [Button("Opção 2", "/x" + "y" * 80)]))
    [row] = fake.sent_to(CHAT)[0].params["reply_markup"]["inline_keyboard"]
    assert row == [{"text": "Opção 2", "callback_data": "Opção 2"}]


@pytest.mark.parametrize(
    ("status", "description", "retryable"),
    [
        (429, "Too Many Requests: retry after 3", True),
        (500, "Internal Server Error", True),
        (502, "Bad Gateway", True),
        (400, "Bad Request: chat not found", False),
        (403, "Forbidden: bot was blocked by the user", False),
        (401, "Unauthorized", False),
    ],
)
def test_errors_are_mapped_to_retryable_or_not(
    fake: FakeTelegram, channel: TelegramChannel, status: int, description: str, retryable: bool
) -> None:
    fake.fail_next("sendMessage", status, description, retry_after=3 if status == 429 else None)
    with pytest.raises(SendError) as info:
        channel.send(str(CHAT), OutboundMessage.of_text("oi"))
    assert info.value.retryable is retryable
    assert info.value.error_code == str(status)
    assert description in str(info.value)


def test_network_failure_is_retryable() -> None:
    with running_fake() as gone:
        url, token = gone.base_url, gone.token
    channel = TelegramChannel(token, url, timeout_s=2)
    with pytest.raises(SendError) as info:
        channel.send(str(CHAT), OutboundMessage.of_text("oi"))
    assert info.value.retryable is True
    channel.close()


def test_outbox_retries_a_500_and_delivers_once(
    fake: FakeTelegram, channel: TelegramChannel, session: Session, session_factory
) -> None:  # type: ignore[no-untyped-def]
    conversation = Conversation(channel=Channel.TELEGRAM, address=str(CHAT))
    session.add(conversation)
    session.commit()
    fake.fail_next("sendMessage", 500, "Internal Server Error")
    outbox = Outbox(
        session_factory, {Channel.TELEGRAM: channel}, FixedClock(NOW), RetryPolicy(sleep=lambda _s: None)
    )
    [message_id] = outbox.deliver(conversation.public_id, [BotReply("Olá")], author=Author.BOT)
    assert len(fake.calls_to("sendMessage")) == 2
    assert len(fake.sent_to(CHAT)) == 2  # the first attempt failed at the provider
    row = session.get(Message, message_id)
    assert row is not None and (row.status, row.attempts, row.error_code) == ("sent", 2, None)
    assert row.provider_message_id == f"tgm:{CHAT}:1"


def test_polling_feeds_the_same_handlers(
    fake: FakeTelegram, container, session: Session, portfolio: dict[str, int]
) -> None:  # type: ignore[no-untyped-def]
    """``negocia telegram-poll``: getUpdates (after deleteWebhook) instead of the webhook."""
    container.settings = container.settings.model_copy(
        update={"telegram_bot_token": SecretStr(fake.token), "telegram_api_base_url": fake.base_url}
    )
    container.channels[Channel.TELEGRAM] = TelegramChannel(fake.token, fake.base_url)

    async def poll_once() -> None:
        application = _application(container, webhook=False)
        async with application:
            assert application.updater is not None
            await application.updater.start_polling(poll_interval=0, timeout=1)
            await application.start()
            fake.push_update(text_update(CHAT, "oi"))
            await asyncio.to_thread(fake.wait_sent, CHAT, 1)
            await application.updater.stop()
            await application.stop()

    asyncio.run(poll_once())
    assert fake.calls_to("deleteWebhook") and fake.calls_to("getUpdates")
    [sent] = fake.sent_to(CHAT)
    assert "compartilhe o número de telefone" in sent.params["text"]
    inbound = session.scalars(select(Message).where(Message.direction == Direction.INBOUND)).all()
    assert len(inbound) == 1 and (inbound[0].provider_message_id or "").startswith("tg:")
