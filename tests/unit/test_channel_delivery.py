"""Pure parts of channel delivery: numbered options, reply mapping, status ordering, backoff."""

from __future__ import annotations

import pytest

from bot import numbered_options
from bot.channels.base import MessageKind, OutboundMessage
from bot.dialogue import BotReply, Button
from bot.outbox import RetryPolicy, supersedes, to_outbound

BUTTONS = [
    Button("PIX à vista", '/choose_option{"option": "cash"}'),
    Button("3x", '/choose_option{"option": "plan:3"}'),
]


def test_render_numbers_the_buttons_under_the_text() -> None:
    assert numbered_options.render("Qual prefere?", BUTTONS) == "Qual prefere?\n\n1. PIX à vista\n2. 3x"
    assert numbered_options.render("", BUTTONS) == "1. PIX à vista\n2. 3x"


@pytest.mark.parametrize(
    "text", ["2", " 2 ", "2.", "2)", "opção 2", "Opcao 2", "OPÇÃO 2", "a 2", "nº 2", "2️⃣", "alternativa 2"]
)
def test_ways_of_typing_the_second_option(text: str) -> None:
    assert numbered_options.resolve(text, BUTTONS) == '/choose_option{"option": "plan:3"}'
    assert numbered_options.is_choice(text)


@pytest.mark.parametrize("text", ["3", "0", "22", "quero 2", "2 vezes", "em 2x", "", "dois mil", "12345678"])
def test_other_texts_are_not_choices(text: str) -> None:
    assert numbered_options.resolve(text, BUTTONS) is None


@pytest.mark.parametrize("text", ["quero 2", "2 vezes", "em 2x", "", "dois mil", "12345678", "oi"])
def test_texts_that_are_no_choice_whatever_the_options(text: str) -> None:
    assert not numbered_options.is_choice(text)


def test_no_buttons_no_choice() -> None:
    assert numbered_options.resolve("1", []) is None


def test_replies_map_to_channel_messages() -> None:
    assert to_outbound(BotReply("oi")) == OutboundMessage.of_text("oi")
    assert to_outbound(BotReply("qual?", BUTTONS)) == OutboundMessage.of_options("qual?", BUTTONS)
    image = to_outbound(BotReply("QR", image="https://h/qr.png?sig=1"))
    assert (image.kind, image.url, image.text) == (MessageKind.IMAGE, "https://h/qr.png?sig=1", "QR")
    document = to_outbound(BotReply("Termo", document="https://h/a/term.pdf?exp=1"))
    assert (document.kind, document.filename, document.text) == (MessageKind.DOCUMENT, "term.pdf", "Termo")


@pytest.mark.parametrize(
    "current, new, expected",
    [
        (None, "queued", True),
        ("pending", "queued", True),
        ("queued", "sent", True),
        ("sent", "delivered", True),
        ("delivered", "read", True),
        ("read", "sent", False),
        ("read", "delivered", False),
        ("delivered", "sent", False),
        ("sent", "failed", True),
        ("sent", "undelivered", True),
        ("read", "failed", False),
        ("queued", "bogus", False),
    ],
)
def test_status_reports_only_move_forward(current: str | None, new: str, expected: bool) -> None:
    assert supersedes(new, current) is expected


def test_backoff_doubles_up_to_the_cap() -> None:
    policy = RetryPolicy(base_delay_s=0.5, max_delay_s=3.0)
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
