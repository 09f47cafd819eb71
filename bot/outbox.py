"""Delivery of outbound messages through the conversation's channel, with a record per message.

Every reply is stored (status ``pending``) before it is sent, so a crash or a provider outage
never loses what the bot or a collector said; the outcome (provider id, status, error) is written
back on the same row. Provider failures are recorded, never raised: callers are turns and
console requests that must not fail because Twilio or Telegram hiccupped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import PurePosixPath
from typing import cast
from urllib.parse import urlsplit

from sqlalchemy import String, Table, bindparam, case, delete, func, or_, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.channels.base import OutboundChannel, OutboundMessage, SendError
from bot.dialogue import BotReply
from server.clock import Clock
from server.db import repositories as repo
from server.db.models import Author, Channel, Conversation, Direction, EarlyStatus, Message

log = logging.getLogger(__name__)

PENDING = "pending"
FAILED = "failed"


# Provider statuses in the order they can happen; callbacks arrive out of order, so a late
# "sent" must not overwrite "read". Failures end a message unless it was already delivered.
_STATUS_RANK = {
    PENDING: 0,
    "accepted": 1,
    "scheduled": 1,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "undelivered": 4,
    FAILED: 4,
    "delivered": 5,
    "read": 6,
}


def supersedes(new: str, current: str | None) -> bool:
    """Whether a status report ``new`` should replace the recorded ``current`` status."""
    if new not in _STATUS_RANK:
        return False
    return current is None or _STATUS_RANK[new] > _STATUS_RANK.get(current, -1)


def apply_status(message: Message, status: str, error_code: str | None) -> bool:
    """A provider's status report on our record of the message (out-of-order reports ignored)."""
    if not supersedes(status, message.status):
        return False
    message.status = status
    if error_code and error_code != "0":
        message.error_code = error_code[:20]
    return True


def apply_early_statuses(session: Session, message: Message) -> None:
    """Status callbacks that arrived before the provider id was on ``message``: applied, then
    dropped. Whoever commits second (the callback or the send) applies them, so none is lost:
    each side commits its own write before it looks for the other's."""
    if not message.provider_message_id:
        return
    early = session.scalars(
        select(EarlyStatus)
        .where(EarlyStatus.provider_message_id == message.provider_message_id)
        .order_by(EarlyStatus.id)
    ).all()
    if not early:
        return
    for report in early:
        apply_status(message, report.status, report.error_code)
    session.execute(delete(EarlyStatus).where(EarlyStatus.id.in_([r.id for r in early])))
    session.commit()


def record_status(
    session_factory: sessionmaker[Session], provider_message_id: str, status: str, error_code: str | None
) -> bool:
    """A status callback: applied to the message with that provider id; kept as an early status
    when no message has the id yet (the send that will record it is still waiting for the REST
    response). True when a message's status changed."""
    if status not in _STATUS_RANK:
        return False
    with session_factory() as session:
        message = session.scalar(select(Message).where(Message.provider_message_id == provider_message_id))
        if message is not None:
            changed = apply_status(message, status, error_code)
            session.commit()
            return changed
        session.add(
            EarlyStatus(
                provider_message_id=provider_message_id,
                status=status,
                error_code=error_code[:20] if error_code else None,
            )
        )
        session.commit()
        # The send may have recorded the id between our lookup and our commit: look again.
        message = session.scalar(select(Message).where(Message.provider_message_id == provider_message_id))
        if message is None:
            return False
        before = message.status
        apply_early_statuses(session, message)
        return message.status != before


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff for retryable errors (429, 5xx, network): base, 2·base, 4·base…"""

    max_attempts: int = 4
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return float(min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1)))


def _filename(url: str, default: str) -> str:
    name = PurePosixPath(urlsplit(url).path).name
    return name or default


def to_outbound(reply: BotReply) -> OutboundMessage:
    """One bot reply as one channel message: media first (with the text as caption), then
    options (text + buttons), else plain text."""
    if reply.document:
        return OutboundMessage.of_document(
            reply.document, _filename(reply.document, "documento.pdf"), reply.text
        )
    if reply.image:
        return OutboundMessage.of_image(reply.image, reply.text)
    if reply.buttons:
        return OutboundMessage.of_options(reply.text, reply.buttons)
    return OutboundMessage.of_text(reply.text)


class UnknownConversation(LookupError):
    pass


@dataclass(frozen=True)
class Recipient:
    """Where a conversation's messages go, as a caller that has just read the conversation knows
    it (a turn): given to ``deliver``, it spares reading the conversation again."""

    conversation_id: int
    channel: Channel
    address: str
    last_inbound_at: datetime | None

    @classmethod
    def of(cls, conversation: Conversation) -> Recipient:
        return cls(conversation.id, conversation.channel, conversation.address, conversation.last_inbound_at)


# Work a caller adds to the transaction that records a delivery's outcomes (a turn marks its
# inbound message processed there: one transaction less per turn, and never replies recorded
# with the message left pending).
OnRecorded = Callable[[Session], None]


_MESSAGES = cast(Table, Message.__table__)
# A send's outcome on its row. A status callback may have raced ahead of us (Twilio answers, then
# calls back): the status is decided inside the UPDATE, so a "delivered" committed meanwhile is
# never undone; a provider id or send time not known keeps what the row has.
_OUTCOME_UPDATE = (
    update(_MESSAGES)
    .where(_MESSAGES.c.id == bindparam("o_id"))
    .values(
        attempts=bindparam("o_attempts"),
        error_code=bindparam("o_error_code"),
        error_message=bindparam("o_error_message"),
        status=case(
            (
                or_(_MESSAGES.c.status.is_(None), _MESSAGES.c.status == PENDING),
                bindparam("o_status", type_=String),
            ),
            else_=_MESSAGES.c.status,
        ),
        provider_message_id=func.coalesce(
            bindparam("o_provider_message_id", type_=String), _MESSAGES.c.provider_message_id
        ),
        sent_at=func.coalesce(bindparam("o_sent_at", type_=_MESSAGES.c.sent_at.type), _MESSAGES.c.sent_at),
    )
)


@dataclass(frozen=True)
class _Outcome:
    """What became of one send, before it is written back on the message's row."""

    message_id: int
    attempts: int
    status: str
    provider_message_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    sent_at: datetime | None = None


class Outbox:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        channels: Mapping[Channel, OutboundChannel],
        clock: Clock,
        retry: RetryPolicy = RetryPolicy(),
    ) -> None:
        self._sessions = session_factory
        self._channels = channels
        self._clock = clock
        self._retry = retry

    def deliver(
        self,
        conversation_public_id: str,
        replies: Sequence[BotReply],
        *,
        author: Author,
        reply_to_id: int | None = None,
        recipient: Recipient | None = None,
        on_recorded: OnRecorded | None = None,
    ) -> list[int]:
        """Persists each reply as an outbound Message (before sending), sends it through the
        conversation's channel adapter with retries/backoff on retryable errors, records
        provider_message_id / status / error on the Message row; returns the message ids.
        Never raises for provider failures (they are recorded). ``recipient``: the conversation
        as the caller read it (else it is read here); ``on_recorded`` runs in the transaction
        that records the outcomes (not at all when there is no reply)."""
        if not replies:
            return []
        with self._sessions() as session:
            if recipient is None:
                conversation = repo.conversation_by_public_id(session, conversation_public_id)
                if conversation is None:
                    raise UnknownConversation(conversation_public_id)
                recipient = Recipient.of(conversation)
            rows = [
                Message(
                    conversation_id=recipient.conversation_id,
                    direction=Direction.OUTBOUND,
                    author=author,
                    text=reply.text,
                    payload=reply.payload(),
                    status=PENDING,
                    reply_to_id=reply_to_id,
                )
                for reply in replies
            ]
            session.add_all(rows)
            session.commit()  # one INSERT for the turn's replies (ids in the replies' order)
            ids = [row.id for row in rows]
        adapter = self._channels.get(recipient.channel)
        outcomes = [
            self._attempt(
                message_id, adapter, recipient.channel, recipient.address,
                replace(to_outbound(reply), last_inbound_at=recipient.last_inbound_at),
            )
            for message_id, reply in zip(ids, replies, strict=True)
        ]  # fmt: skip
        # One write for the turn's outcomes. Should the process die between two sends, the rows
        # are already stored (pending), so nothing is lost or sent twice, only statuses unknown.
        self._record(outcomes, on_recorded)
        return ids

    def send_message(
        self,
        conversation_public_id: str,
        message: OutboundMessage,
        *,
        author: Author,
        extra_payload: dict[str, object] | None = None,
    ) -> int:
        """A message that is not a bot reply (a template, for the reminders): stored, then sent.
        ``extra_payload`` is kept on the row (the reminders' idempotency key, for recovery)."""
        with self._sessions() as session:
            conversation = repo.conversation_by_public_id(session, conversation_public_id)
            if conversation is None:
                raise UnknownConversation(conversation_public_id)
            row = repo.add_message(
                session,
                conversation,
                direction=Direction.OUTBOUND,
                author=author,
                text=message.text,
                payload={
                    **({"template": message.template_id, "variables": message.variables}
                       if message.template_id else {}),
                    **(extra_payload or {}),
                }
                or None,
            )  # fmt: skip
            row.status = PENDING
            session.commit()
            channel, address, message_id = conversation.channel, conversation.address, row.id
        self._record([self._attempt(message_id, self._channels.get(channel), channel, address, message)])
        return message_id

    def _attempt(
        self,
        message_id: int,
        adapter: OutboundChannel | None,
        channel: Channel,
        address: str,
        message: OutboundMessage,
    ) -> _Outcome:
        """Sends one message (retrying retryable errors); the outcome, to be recorded."""
        attempts = 0
        error: SendError
        if adapter is None:
            error = SendError(f"canal {channel.value} desativado", retryable=False, error_code="channel_off")
        else:
            while True:
                attempts += 1
                try:
                    result = adapter.send(address, message)
                except SendError as exc:
                    error = exc
                except Exception as exc:  # an adapter bug must not lose the record
                    log.exception("channel %s failed to send message %s", channel.value, message_id)
                    error = SendError(f"{type(exc).__name__}: {exc}", retryable=False)
                else:
                    return _Outcome(
                        message_id,
                        attempts,
                        result.status,
                        provider_message_id=result.provider_message_id,
                        sent_at=self._clock.now(),
                    )
                if not error.retryable or attempts >= self._retry.max_attempts:
                    break
                self._retry.sleep(self._retry.delay(attempts))
        log.warning("message %s not delivered on %s: %s", message_id, channel.value, error)
        return _Outcome(
            message_id, attempts, FAILED, error_code=error.error_code, error_message=str(error)[:2000]
        )

    def _record(self, outcomes: Sequence[_Outcome], on_recorded: OnRecorded | None = None) -> None:
        """Writes the outcomes back on their rows (one transaction, with ``on_recorded``'s work),
        then applies any status callback that arrived before its provider id was recorded."""
        if not outcomes:
            return
        engine = self._sessions.kw.get("bind")
        if not isinstance(engine, Engine):
            with self._sessions() as session:
                self._record_on(session, outcomes, on_recorded)
            return
        # One connection for both steps: the look for early statuses, after the commit, is one
        # statement outside any transaction (no checkout, BEGIN or ROLLBACK of its own).
        with engine.connect() as connection, self._sessions(bind=connection) as session:
            self._record_on(session, outcomes, on_recorded, connection)

    def _record_on(
        self,
        session: Session,
        outcomes: Sequence[_Outcome],
        on_recorded: OnRecorded | None,
        connection: Connection | None = None,
    ) -> None:
        # One executemany on the table (the ORM's bulk UPDATE machinery was ~4 % of the
        # server's CPU for one or two rows a turn).
        session.connection().execute(
            _OUTCOME_UPDATE,
            [
                {
                    "o_id": outcome.message_id,
                    "o_attempts": outcome.attempts,
                    "o_error_code": outcome.error_code,
                    "o_error_message": outcome.error_message,
                    "o_status": outcome.status,
                    "o_provider_message_id": outcome.provider_message_id,
                    "o_sent_at": outcome.sent_at,
                }
                for outcome in outcomes
            ],
        )
        if on_recorded is not None:
            on_recorded(session)
        session.commit()
        provider_ids = [o.provider_message_id for o in outcomes if o.provider_message_id is not None]
        if not provider_ids:
            return
        # Committed first, then looked: a callback that stored an early status after this look
        # finds our committed provider id itself (record_status looks again after its commit).
        look = select(EarlyStatus.provider_message_id).where(
            EarlyStatus.provider_message_id.in_(provider_ids)
        )
        if connection is not None:
            connection.execution_options(isolation_level="AUTOCOMMIT")
            early = set(connection.scalars(look))
        else:
            early = set(session.scalars(look))
        if not early:
            return
        # Rare: applied in a transaction of their own (the connection above is in autocommit).
        with self._sessions() as applying:
            for outcome in outcomes:
                if outcome.provider_message_id in early:
                    row = applying.get(Message, outcome.message_id)
                    assert row is not None
                    apply_early_statuses(applying, row)
