"""The one interface every chat channel implements, so dialogue and console code never know
which channel they talk to.

A channel adapter turns a neutral ``OutboundMessage`` into the provider's call (Twilio REST,
Telegram Bot API, or nothing at all for the sandbox, whose inbox is the message table).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from bot.dialogue import Button


class MessageKind(StrEnum):
    TEXT = "text"
    OPTIONS = "options"  # text + buttons (numbered lines on WhatsApp, inline keyboard on Telegram)
    IMAGE = "image"  # url (+ optional caption in text)
    DOCUMENT = "document"  # url (+ optional caption in text, filename)
    TEMPLATE = "template"  # an approved WhatsApp template (Twilio ContentSid) and its variables


@dataclass(frozen=True)
class OutboundMessage:
    kind: MessageKind
    text: str = ""
    buttons: tuple[Button, ...] = ()
    url: str | None = None
    filename: str | None = None
    template_id: str | None = None
    variables: dict[str, str] = field(default_factory=dict)
    # When the recipient last wrote, if the sender already knows (the outbox does): spares the
    # WhatsApp channel a database lookup per message for its 24-hour window.
    last_inbound_at: datetime | None = None

    @classmethod
    def of_text(cls, text: str) -> OutboundMessage:
        return cls(MessageKind.TEXT, text=text)

    @classmethod
    def of_options(cls, text: str, buttons: list[Button] | tuple[Button, ...]) -> OutboundMessage:
        return cls(MessageKind.OPTIONS, text=text, buttons=tuple(buttons))

    @classmethod
    def of_image(cls, url: str, caption: str = "") -> OutboundMessage:
        return cls(MessageKind.IMAGE, text=caption, url=url)

    @classmethod
    def of_document(cls, url: str, filename: str, caption: str = "") -> OutboundMessage:
        return cls(MessageKind.DOCUMENT, text=caption, url=url, filename=filename)

    @classmethod
    def of_template(cls, template_id: str, variables: dict[str, str]) -> OutboundMessage:
        return cls(MessageKind.TEMPLATE, template_id=template_id, variables=dict(variables))


@dataclass(frozen=True)
class SendResult:
    """What the provider said: its message id (for status callbacks) and the initial status."""

    provider_message_id: str | None
    status: str = "sent"


class SendError(RuntimeError):
    """The provider refused or failed. ``retryable`` is True for 429/5xx/network errors."""

    def __init__(self, reason: str, *, retryable: bool, error_code: str | None = None) -> None:
        super().__init__(reason)
        self.retryable = retryable
        self.error_code = error_code


class OutsideSessionWindow(SendError):
    """WhatsApp: free text to a contact who has not written in 24 hours needs a template."""

    def __init__(self) -> None:
        super().__init__("fora da janela de 24 horas: é preciso um template aprovado", retryable=False)


class OutboundChannel(Protocol):
    """Sends one message to one address (E.164 phone for WhatsApp/sandbox, chat id for Telegram)."""

    def send(self, address: str, message: OutboundMessage) -> SendResult: ...
