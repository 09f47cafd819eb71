"""One Telegram update → one turn (or a linking step). Runs in a worker thread, never on the loop.

Text messages and inline-button presses of a linked chat are ordinary gateway turns (the button's
callback_data is the payload the dialogue expects). An unlinked chat is asked for its phone number
first; a shared contact card links the chat when it is the sender's own. Everything is de-duplicated
by ``update_id`` (``provider_message_id`` "tg:<update_id>" is unique): Telegram re-sends an update
until it gets a 200, and ``telegram-poll`` may see one again after a restart.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from telegram import Message as TgMessage
from telegram import Update, User

from bot import texts
from bot.channels.telegram import REQUEST_CONTACT_PAYLOAD
from bot.dialogue import BotReply, Button
from bot.gateway import Accepted, Inbound, InboundKind
from bot.locks import ConversationLocks
from server.clock import Clock
from server.db import repositories as repo
from server.db.models import Author, Channel, Direction
from server.services.telegram_link import LinkOutcome, is_linked, link_contact

log = logging.getLogger(__name__)

# What the dialogue is sent once a chat is linked, so the bot greets and asks for the CNPJ root.
START_PAYLOAD = "/greet"


class Turns(Protocol):
    """The gateway's two steps (bot.gateway.Gateway)."""

    def accept(self, inbound: Inbound) -> Accepted: ...

    def process_pending(self, conversation_public_id: str) -> int: ...


class Delivery(Protocol):
    def deliver(
        self,
        conversation_public_id: str,
        replies: Sequence[BotReply],
        *,
        author: Author,
        reply_to_id: int | None = None,
    ) -> list[int]: ...


def update_key(update_id: int) -> str:
    return f"tg:{update_id}"


_MEDIA = ("photo", "document", "voice", "audio", "video", "video_note")


def _non_text_kind(message: TgMessage) -> InboundKind:
    if any(getattr(message, kind, None) for kind in _MEDIA):
        return InboundKind.MEDIA
    if message.location is not None or message.venue is not None:
        return InboundKind.LOCATION
    return InboundKind.UNSUPPORTED


def media_refs(message: TgMessage) -> list[dict[str, object]]:
    """What the turn downloads (bot.media): file id, declared type and size of the attachment;
    of a photo's sizes, the largest. Videos are announced too and refused by the allow-list."""
    if message.photo:
        largest = max(message.photo, key=lambda p: p.width * p.height)
        return [{"file_id": largest.file_id, "content_type": "image/jpeg", "file_size": largest.file_size}]
    for name, default_type in (
        ("document", "application/octet-stream"),
        ("voice", "audio/ogg"),
        ("audio", "audio/mpeg"),
        ("video", "video/mp4"),
        ("video_note", "video/mp4"),
    ):
        item = getattr(message, name, None)
        if item is not None:
            ref: dict[str, object] = {
                "file_id": item.file_id,
                "content_type": getattr(item, "mime_type", None) or default_type,
                "file_size": item.file_size,
            }
            if getattr(item, "file_name", None):
                ref["file_name"] = item.file_name
            return [ref]
    return []


class TelegramUpdates:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        gateway: Turns,
        outbox: Delivery,
        locks: ConversationLocks,
        creditor_name: str,
        clock: Clock,
    ) -> None:
        self._sessions = session_factory
        self._gateway = gateway
        self._outbox = outbox
        self._locks = locks
        self._creditor_name = creditor_name
        self._clock = clock

    def handle(self, update: Update) -> None:
        user: User | None
        if update.callback_query is not None:
            query = update.callback_query
            chat = query.message.chat if query.message is not None else None
            user, text, content = query.from_user, query.data, None
        elif update.message is not None:
            content = update.message
            chat, user, text = content.chat, content.from_user, content.text
        else:
            return  # edits, membership changes, channel posts: nothing to answer
        if chat is None or chat.type != "private" or user is None or user.is_bot:
            return  # only one-to-one chats: a group is not a debtor's contact
        address = str(chat.id)
        key = update_key(update.update_id)
        if content is not None and content.contact is not None:
            self._link(address, key, user.id, content.contact.user_id, content.contact.phone_number)
        elif not self._linked(user.id):
            # Whatever an unlinked chat sends, the answer is the same: share your phone first.
            self._intercepted(address, key, text or (content.caption if content else None) or "")
        elif text:
            self._turn(Inbound(Channel.TELEGRAM, address, text, key))
        elif content is not None:
            kind = _non_text_kind(content)
            media = media_refs(content) if kind == InboundKind.MEDIA else []
            text = content.caption or ""
            if kind == InboundKind.LOCATION and content.location is not None and not text:
                text = f"[localização: {content.location.latitude}, {content.location.longitude}]"
            self._turn(Inbound(Channel.TELEGRAM, address, text, key, kind, media))

    def _turn(self, inbound: Inbound) -> None:
        accepted = self._gateway.accept(inbound)
        if accepted.message_id is not None:
            self._gateway.process_pending(accepted.conversation_id)

    def _linked(self, user_id: int) -> bool:
        with self._sessions() as session:
            return is_linked(session, user_id)

    def _ask_phone(self, template: str) -> BotReply:
        text = template.format(creditor_name=self._creditor_name)
        return BotReply(text, [Button(texts.TELEGRAM_SHARE_PHONE_BUTTON, REQUEST_CONTACT_PAYLOAD)])

    def _record(self, address: str, key: str, text: str, kind: str) -> tuple[str, int] | None:
        """Store an inbound message the dialogue does not see (numbered as the gateway's intake
        numbers them, in the same order); None when this update was handled already."""
        with self._sessions() as session:
            intake = repo.intake(session, Channel.TELEGRAM, address, self._clock.now())
            try:
                message = repo.add_message(
                    session,
                    intake.conversation_id,
                    direction=Direction.INBOUND,
                    author=Author.CONTACT,
                    text=text,
                    payload={"kind": kind},
                    ordinal=intake.ordinal,
                    provider_message_id=key,
                )
                session.commit()
            except IntegrityError:
                session.rollback()
                return None
            return intake.public_id, message.id

    def _intercepted(self, address: str, key: str, text: str) -> None:
        recorded = self._record(address, key, text, "text")
        if recorded is not None:
            public_id, message_id = recorded
            reply = self._ask_phone(texts.TELEGRAM_ASK_PHONE)
            self._outbox.deliver(public_id, [reply], author=Author.SYSTEM, reply_to_id=message_id)

    def _link(self, address: str, key: str, user_id: int, contact_user_id: int | None, phone: str) -> None:
        recorded = self._record(address, key, texts.TELEGRAM_CONTACT_SHARED.format(phone=phone), "contact")
        if recorded is None:
            return
        public_id, message_id = recorded
        with self._locks.hold(f"turn:{public_id}"), self._sessions() as session:
            conversation = repo.conversation_by_public_id(session, public_id)
            assert conversation is not None
            outcome = link_contact(
                session, conversation, sender_user_id=user_id, contact_user_id=contact_user_id, phone=phone
            )
            session.commit()
        log.info("telegram contact shared in chat %s: %s", address, outcome.value)
        if outcome == LinkOutcome.NOT_OWN_CONTACT:
            reply = self._ask_phone(texts.TELEGRAM_NOT_OWN_CONTACT)
        elif outcome == LinkOutcome.UNKNOWN_PHONE:
            reply = BotReply(texts.TELEGRAM_PHONE_UNKNOWN.format(creditor_name=self._creditor_name))
        else:
            reply = BotReply(texts.TELEGRAM_PHONE_LINKED)
        self._outbox.deliver(public_id, [reply], author=Author.SYSTEM, reply_to_id=message_id)
        if outcome == LinkOutcome.LINKED:
            # The dialogue takes over: it greets and asks for the CNPJ root before any disclosure.
            self._turn(Inbound(Channel.TELEGRAM, address, START_PAYLOAD, f"{key}:start"))
