"""Chat turns: accept an inbound message, then run the conversation's pending turns in order.

Two steps, so webhooks can acknowledge at once and turns still run one at a time per sender:

1. ``accept`` commits the inbound message as ``pending`` (under a short per-address intake lock,
   so ids follow arrival order). Nothing a debtor writes is lost, even when Rasa is down, and a
   provider's retry of the same message id is recognised here.
2. ``process_pending`` holds the conversation's turn lock and runs each pending message in id
   order: routed to the bot, or not (a collector holds the conversation), replies delivered
   through the outbox, the message marked processed.

The sandbox calls ``handle_text``, which does both and returns the replies of its own message.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot import numbered_options, texts
from bot.dialogue import BotReply, DialogueEngine, DialogueUnavailable
from bot.locks import ConversationLocks
from bot.outbox import Outbox
from server.clock import Clock
from server.db import repositories as repo
from server.db.models import (
    Author,
    Channel,
    Conversation,
    ConversationState,
    Direction,
    Message,
    Processing,
)
from server.domain.conversation_state import check_transition
from server.services.identity import candidate_contacts

log = logging.getLogger(__name__)

# What the dialogue is given of a very long message (WhatsApp's own limit is 4096 characters).
MAX_DIALOGUE_TEXT = 4096
# Channels that show options as numbered lines, so "2" means the second button.
NUMBERED_OPTION_CHANNELS = frozenset({Channel.WHATSAPP})


class InboundKind(StrEnum):
    TEXT = "text"
    MEDIA = "media"  # receipts, PDFs, audio: stored and acknowledged
    LOCATION = "location"
    CONTACTS = "contacts"
    UNSUPPORTED = "unsupported"


@dataclass(frozen=True)
class Inbound:
    channel: Channel
    address: str  # already normalised (E.164 phone, Telegram chat id)
    text: str = ""
    provider_message_id: str | None = None
    kind: InboundKind = InboundKind.TEXT
    media: Sequence[dict[str, str]] = ()
    extra_metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Accepted:
    conversation_id: str
    message_id: int | None
    duplicate: bool = False


@dataclass(frozen=True)
class TurnResult:
    conversation_id: str
    replies: list[BotReply]
    duplicate: bool = False


def inbound_payload(inbound: Inbound) -> dict[str, Any] | None:
    info: dict[str, Any] = {}
    if inbound.kind != InboundKind.TEXT:
        info["kind"] = inbound.kind.value
    if inbound.extra_metadata:
        info["metadata"] = inbound.extra_metadata
    return info or None


class Gateway:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        dialogue: DialogueEngine,
        locks: ConversationLocks,
        outbox: Outbox,
        clock: Clock,
        numbered_channels: Collection[Channel] = NUMBERED_OPTION_CHANNELS,
    ) -> None:
        self._sessions = session_factory
        self._dialogue = dialogue
        self._locks = locks
        self._outbox = outbox
        self._clock = clock
        self._numbered = numbered_channels

    # -- step 1 ---------------------------------------------------------------------------

    def accept(self, inbound: Inbound) -> Accepted:
        key = f"intake:{inbound.channel.value}:{inbound.address}"
        with self._locks.hold(key), self._sessions() as session:
            if inbound.provider_message_id and session.scalar(
                select(Message.id).where(Message.provider_message_id == inbound.provider_message_id)
            ):
                conversation = repo.conversation_by_address(session, inbound.channel, inbound.address)
                return Accepted(conversation.public_id if conversation else "", None, duplicate=True)
            conversation = self._conversation(session, inbound.channel, inbound.address)
            public_id = conversation.public_id
            conversation.last_inbound_at = self._clock.now()
            try:
                message = repo.add_message(
                    session,
                    conversation,
                    direction=Direction.INBOUND,
                    author=Author.CONTACT,
                    text=inbound.text,
                    payload=inbound_payload(inbound),
                    provider_message_id=inbound.provider_message_id,
                )
                message.media = list(inbound.media) or None
                message.processing = Processing.PENDING
                session.commit()
            except IntegrityError:
                # Another process stored the same provider message id a moment ago.
                session.rollback()
                return Accepted(public_id, None, duplicate=True)
            return Accepted(public_id, message.id)

    def _conversation(self, session: Session, channel: Channel, address: str) -> Conversation:
        conversation = repo.conversation_by_address(session, channel, address)
        if conversation is None:
            conversation = Conversation(channel=channel, address=address)
            session.add(conversation)
            session.flush()
        return conversation

    # -- step 2 ---------------------------------------------------------------------------

    def process_pending(self, conversation_public_id: str) -> int:
        """Run every pending turn of the conversation, oldest first; returns how many ran."""
        done = 0
        while True:
            with self._locks.hold(f"turn:{conversation_public_id}"):
                message_id = self._next_pending(conversation_public_id)
                if message_id is None:
                    return done
                try:
                    self._run_turn(conversation_public_id, message_id)
                except Exception:
                    # Marked processed anyway: one broken message must not block the sender's queue.
                    log.exception("turn of message %s failed", message_id)
                if not self._mark_processed(message_id):
                    return done  # the database is gone: stop rather than spin
                done += 1

    def _next_pending(self, public_id: str) -> int | None:
        with self._sessions() as session:
            return session.scalar(
                select(func.min(Message.id))
                .join(Conversation)
                .where(Conversation.public_id == public_id, Message.processing == Processing.PENDING)
            )

    def _mark_processed(self, message_id: int) -> bool:
        try:
            with self._sessions() as session:
                message = session.get(Message, message_id)
                if message is not None:
                    message.processing = Processing.PROCESSED
                    session.commit()
            return True
        except Exception:
            log.exception("could not mark message %s processed", message_id)
            return False

    def _run_turn(self, public_id: str, message_id: int) -> None:
        first: list[BotReply] = []  # the gateway's own answers (media, waiting), author SYSTEM
        dialogue_text: str | None = None
        with self._sessions() as session:
            conversation = repo.conversation_by_public_id(session, public_id)
            message = session.get(Message, message_id)
            assert conversation is not None and message is not None
            contacts = candidate_contacts(session, conversation)
            for contact in [conversation.contact, *contacts]:
                if contact is not None:
                    contact.last_inbound_at = conversation.last_inbound_at
            info = dict(message.payload or {})
            kind = InboundKind(info.get("kind", InboundKind.TEXT))
            if conversation.state == ConversationState.WITH_HUMAN:
                session.commit()
                return  # the collector answers from the console, where this message shows
            if conversation.state == ConversationState.WAITING_HUMAN:
                # Rasa is not called while a person is awaited; the debtor is told so, once.
                last = repo.last_outbound(session, conversation)
                session.commit()
                if last is None or last.text != texts.WAITING_FOR_HUMAN:
                    self._outbox.deliver(
                        public_id,
                        [BotReply(texts.WAITING_FOR_HUMAN)],
                        author=Author.SYSTEM,
                        reply_to_id=message_id,
                    )
                return
            if conversation.state == ConversationState.CLOSED:
                check_transition(conversation.state, ConversationState.BOT)
                conversation.state = ConversationState.BOT  # the debtor wrote again
            if kind == InboundKind.MEDIA:
                first.append(BotReply(texts.MEDIA_RECEIVED))
                dialogue_text = message.text.strip() or None  # a caption is still a message
            elif kind != InboundKind.TEXT:
                first.append(BotReply(texts.UNSUPPORTED_CONTENT))
            elif message.text.strip():
                dialogue_text = message.text[:MAX_DIALOGUE_TEXT]
                if conversation.channel in self._numbered:
                    chosen = self._numbered_choice(session, conversation, message)
                    if chosen is not None:
                        info["resolved"] = dialogue_text = chosen
                        message.payload = info
            else:
                first.append(BotReply(texts.UNSUPPORTED_CONTENT))
            metadata = {
                "channel": conversation.channel.value,
                "known_sender": bool(contacts),
                **(info.get("metadata") or {}),
            }
            session.commit()
        # Rasa is called with no database session held: a turn may take seconds.
        self._outbox.deliver(public_id, first, author=Author.SYSTEM, reply_to_id=message_id)
        if dialogue_text is None:
            return
        try:
            replies = self._dialogue.send(public_id, dialogue_text, metadata)
            author = Author.BOT
        except DialogueUnavailable:
            replies = [BotReply(texts.ASSISTANT_UNAVAILABLE)]
            author = Author.SYSTEM
        self._outbox.deliver(public_id, replies, author=author, reply_to_id=message_id)

    def _numbered_choice(self, session: Session, conversation: Conversation, message: Message) -> str | None:
        """The payload of the numbered option the debtor typed, from the options the bot sent
        since their previous message (an older list is no longer on the table)."""
        previous_inbound = session.scalar(
            select(func.max(Message.id)).where(
                Message.conversation_id == conversation.id,
                Message.direction == Direction.INBOUND,
                Message.id < message.id,
            )
        )
        stmt = select(Message).where(
            Message.conversation_id == conversation.id,
            Message.direction == Direction.OUTBOUND,
            Message.id > (previous_inbound or 0),
        )
        for sent in session.scalars(stmt.order_by(Message.id.desc()).limit(10)):
            reply = BotReply.from_payload(sent.text, sent.payload)
            if reply.buttons:
                return numbered_options.resolve(message.text, reply.buttons)
        return None

    # -- both steps, synchronously (sandbox) ----------------------------------------------

    def handle_text(
        self,
        channel: Channel,
        address: str,
        text: str,
        *,
        provider_message_id: str | None = None,
        extra_metadata: dict[str, Any] | None = None,
    ) -> TurnResult:
        """Accept and run the turn now; the replies to this very message are returned."""
        accepted = self.accept(
            Inbound(channel, address, text, provider_message_id, extra_metadata=extra_metadata or {})
        )
        if accepted.message_id is None:
            return TurnResult(accepted.conversation_id, [], duplicate=True)
        # Runs any earlier pending message of this sender first, then ours.
        self.process_pending(accepted.conversation_id)
        return TurnResult(accepted.conversation_id, self.replies_to(accepted.message_id))

    def replies_to(self, message_id: int) -> list[BotReply]:
        with self._sessions() as session:
            rows = session.scalars(
                select(Message).where(Message.reply_to_id == message_id).order_by(Message.id)
            )
            return [BotReply.from_payload(m.text, m.payload) for m in rows]
