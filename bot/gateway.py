"""Chat turns: accept an inbound message, then run the conversation's pending turns in order.

Two steps, so webhooks can acknowledge at once and turns still run one at a time per sender:

1. ``accept`` commits the inbound message as ``pending``, numbered by the intake's UPDATE of its
   conversation (whose lock orders one address's messages, so ids follow their numbers). Nothing a debtor writes is lost, even when Rasa is down, and a
   provider's retry of the same message id is recognised here.
2. ``process_pending`` holds the conversation's turn lock and runs each pending message in id
   order: routed to the bot, or not (a collector holds the conversation), replies delivered
   through the outbox, the message marked processed.

The sandbox calls ``handle_text``, which does both and returns the replies of its own message.

When the dialogue engine (Rasa or its action server) is down or too slow, the turn is *deferred*:
the message stays pending (and every later message of the sender waits behind it, so order holds),
the debtor gets one short holding reply per outage, and ``bot/retrier.py`` runs ``process_pending``
again later; after ``engine_handoff_after`` the conversation goes to a collector
(``engine_unavailable``). A retried turn must not run twice inside Rasa, which may have processed
it before the error reached us (a timeout). Every turn therefore carries its message id in the
metadata (``negocia_message_id``), and a retry says so (``negocia_retry``): the Rasa launcher
(scripts/rasa_run.py), under Rasa's own per-conversation lock, answers a retry whose message is
already the tracker's latest user message with the replies Rasa gave it, instead of a second
turn. Replies already persisted for a message are not delivered again either.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot import numbered_options, texts
from bot.dialogue import BotReply, DialogueEngine, DialogueUnavailable
from bot.locks import ConversationLocks
from bot.media import REFUSED, MediaDownloader
from bot.outbox import Outbox, Recipient
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
from server.db.session import write_priority
from server.domain.conversation_state import check_transition
from server.domain.working_hours import WorkingHours, describe_hours, describe_opening
from server.services.app_settings import working_hours
from server.services.handoffs import request_handoff
from server.services.identity import sender_wrote

log = logging.getLogger(__name__)

# What the dialogue is given of a very long message (WhatsApp's own limit is 4096 characters).
MAX_DIALOGUE_TEXT = 4096
# Channels that show options as numbered lines, so "2" means the second button.
NUMBERED_OPTION_CHANNELS = frozenset({Channel.WHATSAPP})


_MESSAGES = cast(Table, Message.__table__)
# A turn's inbound message marked processed (``updated_at`` set by the column's onupdate), and
# whether another message of its conversation waits (the index on conversation and processing).
_MARK_PROCESSED = (
    update(_MESSAGES)
    .where(_MESSAGES.c.id == bindparam("m_id"))
    .values(processing=Processing.PROCESSED)
    .returning(_MESSAGES.c.conversation_id)
)
_ANOTHER_PENDING = (
    select(_MESSAGES.c.id)
    .where(_MESSAGES.c.conversation_id == bindparam("c_id"), _MESSAGES.c.processing == Processing.PENDING)
    .limit(1)
)


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
    media: Sequence[dict[str, Any]] = ()
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


@dataclass
class _Ran:
    """A turn that ran: its message, and whether another one is pending once it was marked
    processed (None: not marked yet)."""

    message_id: int
    more: bool | None = None


class _TurnFailed(Exception):
    """A turn raised once its message was known: the message is marked processed anyway."""

    def __init__(self, message_id: int) -> None:
        super().__init__(message_id)
        self.message_id = message_id


def waiting_text(hours: WorkingHours, now: datetime) -> str:
    """What a debtor who writes while a person is awaited is told: when, outside working hours."""
    if hours.is_open(now):
        return texts.WAITING_FOR_HUMAN
    return texts.WAITING_FOR_HUMAN_LATER.format(
        hours=describe_hours(hours), when=describe_opening(hours.next_opening(now))
    )


def inbound_payload(inbound: Inbound) -> dict[str, Any] | None:
    info: dict[str, Any] = {}
    if inbound.kind != InboundKind.TEXT:
        info["kind"] = inbound.kind.value
    if inbound.extra_metadata:
        info["metadata"] = inbound.extra_metadata
    return info or None


# The message Rasa receives to start a new session (a default intent of every domain).
SESSION_START_TEXT = "/session_start"
ENGINE_UNAVAILABLE_REASON = "engine_unavailable"


class TurnDeferred(Exception):
    """The engine is unavailable: the message stays pending and is retried later."""


class EngineHealth:
    """Consecutive engine failures, shared by the gateways of a process (the retrier backs off)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self.failures = 0

    def failed(self) -> None:
        with self._guard:
            self.failures += 1

    def succeeded(self) -> None:
        with self._guard:
            self.failures = 0


class Gateway:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        dialogue: DialogueEngine,
        locks: ConversationLocks,
        outbox: Outbox,
        clock: Clock,
        numbered_channels: Collection[Channel] = NUMBERED_OPTION_CHANNELS,
        *,
        engine_handoff_after: timedelta = timedelta(minutes=15),
        session_max_turns: int = 0,
        health: EngineHealth | None = None,
        media: MediaDownloader | None = None,
    ) -> None:
        self._sessions = session_factory
        self._dialogue = dialogue
        self._locks = locks
        self._outbox = outbox
        self._clock = clock
        self._numbered = numbered_channels
        self._media = media
        self._handoff_after = engine_handoff_after
        # Every N debtor messages the gateway starts a new Rasa session (0: never), so a very long
        # conversation keeps the per-turn cost of a short one (see actions/session.py).
        self._session_max_turns = session_max_turns
        self.health = health or EngineHealth()

    # -- step 1 ---------------------------------------------------------------------------

    def accept(self, inbound: Inbound) -> Accepted:
        # The webhook waits for this short transaction: on SQLite it goes before the turns'
        # writes. The intake's UPDATE orders the messages of one address (repo.intake). A
        # provider's retry of a stored message id is caught by the unique index on the insert
        # (rolled back below, number included), not looked up first.
        with write_priority(), self._sessions() as session:
            intake = repo.intake(session, inbound.channel, inbound.address, self._clock.now())
            try:
                message = repo.add_message(
                    session,
                    intake.conversation_id,
                    direction=Direction.INBOUND,
                    author=Author.CONTACT,
                    text=inbound.text,
                    payload=inbound_payload(inbound),
                    ordinal=intake.ordinal,
                    provider_message_id=inbound.provider_message_id,
                    media=list(inbound.media) or None,
                    processing=Processing.PENDING,
                )
                session.commit()
            except IntegrityError:
                # The provider's retry of a message stored before (by this or another process).
                session.rollback()
                return Accepted(intake.public_id, None, duplicate=True)
            return Accepted(intake.public_id, message.id)

    # -- step 2 ---------------------------------------------------------------------------

    def process_pending(self, conversation_public_id: str) -> int:
        """Run every pending turn of the conversation, oldest first; returns how many ran."""
        done = 0
        while True:
            ran, more = self._process_one(conversation_public_id)
            done += ran
            if not more:
                return done

    def process_next(self, conversation_public_id: str) -> bool:
        """Run the oldest pending turn; True when another one waits. The turn pool then queues the
        conversation again behind the others, so a sender who writes twenty messages in a row
        holds a worker for one turn at a time, not for all twenty while other debtors wait."""
        return self._process_one(conversation_public_id)[1]

    def _process_one(self, conversation_public_id: str) -> tuple[int, bool]:
        """(turns run, whether more are pending)."""
        # One lock hold per message, not per drain: a Redis lock expires (no renewal).
        with self._locks.hold(f"turn:{conversation_public_id}"):
            try:
                # The pending message is looked up under the lock, in the turn's first
                # transaction: another worker may have run the one _finish saw.
                turn = self._run_turn(conversation_public_id)
            except TurnDeferred:
                return 0, False  # stays pending, later messages wait behind it: order holds
            except _TurnFailed as failed:
                # Marked processed anyway: one broken message must not block the sender's queue.
                log.error("turn of message %s failed", failed.message_id, exc_info=failed.__cause__)
                turn = _Ran(failed.message_id)
            if turn is None:
                return 0, False
            if turn.more is not None:
                return 1, turn.more  # marked processed with its replies' outcomes
            try:
                more = self._finish(turn.message_id)
            except Exception:
                log.exception("could not mark message %s processed", turn.message_id)
                return 0, False  # the database is gone: stop rather than spin
            # Not more: a message accepted from now on schedules its own turn.
            return 1, more

    @staticmethod
    def _mark_processed(session: Session, message_id: int) -> bool:
        """Marks the message processed (in the caller's transaction); True when another message of
        its conversation is pending. Two Core statements on the transaction's connection (the
        ORM's bulk UPDATE and SELECT around the same SQL were ~4 % of the server's CPU)."""
        connection = session.connection()
        conversation_id = connection.execute(_MARK_PROCESSED, {"m_id": message_id}).scalar_one()
        return connection.execute(_ANOTHER_PENDING, {"c_id": conversation_id}).first() is not None

    def _finish(self, message_id: int) -> bool:
        """Marks the message processed, for a turn that did not with its replies."""
        with self._sessions() as session:
            more = self._mark_processed(session, message_id)
            session.commit()
            return more

    def _download_media(self, public_id: str, message_id: int) -> list[dict[str, Any]]:
        """Downloads the message's announced attachments (no database session held meanwhile)
        and records each outcome on ``Message.media``; returns the entries."""
        with self._sessions() as session:
            message = session.get(Message, message_id)
            conversation = repo.conversation_by_public_id(session, public_id)
            if message is None or conversation is None or not message.media:
                return []
            refs, channel = [dict(m) for m in message.media], conversation.channel
        if self._media is None or all(ref.get("status") for ref in refs):
            return refs
        entries = self._media.download(channel, public_id, message_id, refs)
        with self._sessions() as session:
            message = session.get(Message, message_id)
            assert message is not None
            message.media = entries
            session.commit()
        return entries

    def _run_turn(self, public_id: str) -> _Ran | None:
        """The oldest pending message's turn (None: nothing pending). Raises TurnDeferred, or
        _TurnFailed for any other error once the message is known."""
        session = self._sessions()
        message_id: int | None = None
        try:
            # The message and its conversation in one query (both are the turn's to read).
            row = session.execute(
                select(Message, Conversation)
                .join(Message.conversation)
                .where(Conversation.public_id == public_id, Message.processing == Processing.PENDING)
                .order_by(Message.id)
                .limit(1)
            ).first()
            if row is None:
                return None
            message, conversation = row
            message_id = message.id
            if not message.media:
                return self._turn(session, public_id, message, conversation, [])
            # Attachments are fetched first, whoever holds the conversation (a collector sees
            # them too), with no database session held meanwhile; both rows are read again after.
            session.close()
            media = self._download_media(public_id, message_id)
            reread = session.get(Message, message_id)
            reread_conversation = repo.conversation_by_public_id(session, public_id)
            assert reread is not None and reread_conversation is not None
            return self._turn(session, public_id, reread, reread_conversation, media)
        except TurnDeferred:
            raise
        except Exception as exc:
            if message_id is None:
                raise  # the lookup itself failed: nothing to mark
            raise _TurnFailed(message_id) from exc
        finally:
            session.close()

    def _turn(
        self,
        session: Session,
        public_id: str,
        message: Message,
        conversation: Conversation,
        media: list[dict[str, Any]],
    ) -> _Ran:
        """One message's turn, its first transaction on ``session`` (which read the message and its
        conversation): routed to the bot (or not: a collector holds the conversation), replies
        delivered."""
        message_id = message.id
        ran = _Ran(message_id)
        first: list[BotReply] = []  # the gateway's own answers (media, waiting), author SYSTEM
        dialogue_text: str | None = None
        known_sender = sender_wrote(session, conversation, conversation.last_inbound_at)
        info = dict(message.payload or {})
        kind = InboundKind(info.get("kind", InboundKind.TEXT))
        if conversation.state == ConversationState.WITH_HUMAN:
            session.commit()
            return ran  # the collector answers from the console, where this message shows
        if conversation.state == ConversationState.WAITING_HUMAN:
            # Rasa is not called while a person is awaited; the debtor is told so, once.
            last = repo.last_outbound(session, conversation)
            waiting = waiting_text(working_hours(session), self._clock.now())
            session.commit()
            session.close()
            if last is None or not last.text.startswith(texts.WAITING_FOR_HUMAN):
                self._outbox.deliver(
                    public_id,
                    [BotReply(waiting)],
                    author=Author.SYSTEM,
                    reply_to_id=message_id,
                )
            return ran
        if conversation.state == ConversationState.CLOSED:
            check_transition(conversation.state, ConversationState.BOT)
            conversation.state = ConversationState.BOT  # the debtor wrote again
        if kind == InboundKind.MEDIA:
            refused = bool(media) and all(m.get("status") == REFUSED for m in media)
            first.append(BotReply(texts.MEDIA_REFUSED if refused else texts.MEDIA_RECEIVED))
            dialogue_text = message.text.strip() or None  # a caption is still a message
        elif kind != InboundKind.TEXT:
            first.append(BotReply(texts.UNSUPPORTED_CONTENT))
        elif message.text.strip():
            dialogue_text = message.text[:MAX_DIALOGUE_TEXT]
            if conversation.channel in self._numbered:
                chosen = self._numbered_choice(session, conversation, message)
                if chosen is not None:
                    info["resolved"] = dialogue_text = chosen
                    message.payload = dict(info)  # a new object: SQLAlchemy compares with the flushed one
        else:
            first.append(BotReply(texts.UNSUPPORTED_CONTENT))
        metadata = {
            "channel": conversation.channel.value,
            "known_sender": known_sender,
            **(info.get("metadata") or {}),
            "negocia_message_id": message_id,
        }
        attempts = int(info.get("engine_attempts", 0))
        # A message seen before (deferred, or its server died mid-turn): no reply twice. A
        # text never sent to the engine has no replies yet (they all come after that commit).
        sent_before: set[tuple[Author, str]] = set()
        if attempts or dialogue_text is None or first:
            sent_before = {
                (m.author, m.text)
                for m in session.scalars(select(Message).where(Message.reply_to_id == message_id))
            }
        rotate = False
        if dialogue_text is not None:
            if attempts:
                metadata["negocia_retry"] = True
            elif self._session_max_turns:
                rotate = self._long_session(session, conversation, message_id, message.ordinal)
            info["engine_attempts"] = attempts + 1  # committed before Rasa sees the message
            message.payload = dict(info)  # a new object: SQLAlchemy compares with the flushed one
        session.commit()
        recipient = Recipient.of(conversation)
        session.close()  # Rasa is called with no database session held: a turn may take seconds.
        first = [r for r in first if (Author.SYSTEM, r.text) not in sent_before]
        self._outbox.deliver(
            public_id, first, author=Author.SYSTEM, reply_to_id=message_id, recipient=recipient
        )
        if dialogue_text is None:
            return ran
        try:
            if rotate:
                self._dialogue.send(public_id, SESSION_START_TEXT, {"negocia_session_rotation": True})
            replies = self._dialogue.send(public_id, dialogue_text, metadata)
        except DialogueUnavailable as exc:
            self.health.failed()
            log.warning("dialogue engine unavailable for message %s: %s", message_id, exc)
            self._engine_unavailable(public_id, message_id)
            return ran
        self.health.succeeded()
        if any(author == Author.BOT for author, _text in sent_before):
            return ran  # delivered before a crash, which left the message pending

        def finish(recording: Session) -> None:
            ran.more = self._mark_processed(recording, message_id)

        self._outbox.deliver(
            public_id,
            replies,
            author=Author.BOT,
            reply_to_id=message_id,
            recipient=recipient,
            on_recorded=finish,
        )
        return ran

    def _long_session(
        self, session: Session, conversation: Conversation, message_id: int, ordinal: int | None
    ) -> bool:
        """True every ``session_max_turns`` debtor messages (the turn first starts a new session).
        The message's number comes from intake; a message accepted before numbering is counted."""
        count = ordinal
        if count is None:
            count = session.scalar(
                select(func.count(Message.id)).where(
                    Message.conversation_id == conversation.id,
                    Message.direction == Direction.INBOUND,
                    Message.id <= message_id,
                )
            )
        return bool(count and count > 1 and (count - 1) % self._session_max_turns == 0)

    def _engine_unavailable(self, public_id: str, message_id: int) -> None:
        """Hold (one short reply per outage, message left pending) or, after the limit, hand off."""
        now = self._clock.now()
        with self._sessions() as session:
            conversation = repo.conversation_by_public_id(session, public_id)
            message = session.get(Message, message_id)
            assert conversation is not None and message is not None
            info = dict(message.payload or {})
            since = datetime.fromisoformat(info.setdefault("engine_unavailable_since", now.isoformat()))
            message.payload = dict(info)  # a new object: SQLAlchemy compares with the flushed one
            if now - since >= self._handoff_after:
                request_handoff(
                    session, conversation, ENGINE_UNAVAILABLE_REASON, now, note=texts.ENGINE_HANDOFF_NOTE
                )
                session.commit()
                self._outbox.deliver(
                    public_id, [BotReply(texts.WAITING_FOR_HUMAN)], author=Author.SYSTEM,
                    reply_to_id=message_id,
                )  # fmt: skip
                return  # processed: a collector takes it from here
            last = repo.last_outbound(session, conversation)
            session.commit()
        if last is None or last.text != texts.ASSISTANT_UNAVAILABLE:
            self._outbox.deliver(
                public_id, [BotReply(texts.ASSISTANT_UNAVAILABLE)], author=Author.SYSTEM,
                reply_to_id=message_id,
            )  # fmt: skip
        raise TurnDeferred(message_id)

    def pending_conversations(self, created_before: datetime, limit: int = 500) -> list[str]:
        """Conversations with a pending inbound message older than ``created_before`` (the retrier)."""
        with self._sessions() as session:
            rows = session.scalars(
                select(Conversation.public_id)
                .join(Message, Message.conversation_id == Conversation.id)
                .where(Message.processing == Processing.PENDING, Message.created_at < created_before)
                .group_by(Conversation.public_id)
                .order_by(func.min(Message.id))
                .limit(limit)
            )
            return list(rows)

    def _numbered_choice(self, session: Session, conversation: Conversation, message: Message) -> str | None:
        """The payload of the numbered option the debtor typed, from the options the bot sent
        since their previous message (an older list is no longer on the table)."""
        if not numbered_options.is_choice(message.text):
            return None  # most messages: no need to read what was sent
        previous_inbound = (
            select(func.coalesce(func.max(Message.id), 0))
            .where(
                Message.conversation_id == conversation.id,
                Message.direction == Direction.INBOUND,
                Message.id < message.id,
            )
            .scalar_subquery()
        )
        stmt = select(Message.text, Message.payload).where(
            Message.conversation_id == conversation.id,
            Message.direction == Direction.OUTBOUND,
            Message.id > previous_inbound,
        )
        for text, payload in session.execute(stmt.order_by(Message.id.desc()).limit(10)):
            reply = BotReply.from_payload(text, payload)
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
