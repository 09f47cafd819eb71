"""Who is writing, and have they proved it? (Conversation context and CNPJ-root verification.)"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

from sqlalchemy import ColumnElement, Table, and_, or_, select, update
from sqlalchemy.orm import Session, selectinload

from server.db import repositories as repo
from server.db.models import Channel, Contact, Conversation, Debtor
from server.domain.cnpj import parse_root
from server.domain.identity import (
    IdentityStatus,
    VerificationDecision,
    VerificationOutcome,
    decide_verification,
)
from server.domain.phone import InvalidPhone, match_key
from server.services.handoffs import request_handoff

HANDOFF_IDENTITY_FAILED = "identity_failed"


class ConversationNotFound(LookupError):
    pass


class DisclosureRefused(PermissionError):
    """The conversation has not proved who it is: nothing about any debt may be shown."""

    def __init__(self, status: IdentityStatus) -> None:
        super().__init__(status.value)
        self.status = status


@dataclass(frozen=True)
class IdentityPolicy:
    max_attempts: int = 3
    verification_valid_for: timedelta = timedelta(days=30)


@dataclass(frozen=True)
class ConversationContext:
    status: IdentityStatus
    attempts_left: int
    creditor_name: str | None
    contact_first_name: str | None  # only once verified


def _candidate_criterion(conversation: Conversation) -> ColumnElement[bool] | None:
    """Which contacts the conversation's sender may be: the Telegram user, or the phone's match
    key (DDD + last 8 digits); None for an address that is neither."""
    contacts = cast(Table, Contact.__table__)
    if conversation.channel == Channel.TELEGRAM:
        try:
            return contacts.c.telegram_user_id == int(conversation.address)
        except ValueError:
            return None
    try:
        return contacts.c.phone_key == match_key(conversation.address)
    except InvalidPhone:
        return None


def candidate_contacts(
    session: Session, conversation: Conversation, *, with_debtor: bool = True
) -> Sequence[Contact]:
    """The contacts the conversation's sender may be; ``with_debtor`` loads their debtor and
    creditor too (two more queries; the gateway, which only counts them, does without)."""
    criterion = _candidate_criterion(conversation)
    if criterion is None:
        return []
    stmt = select(Contact).where(criterion).order_by(Contact.id)
    if with_debtor:
        stmt = stmt.options(selectinload(Contact.debtor).selectinload(Debtor.creditor))
    return session.scalars(stmt).all()


def sender_wrote(session: Session, conversation: Conversation, when: datetime | None) -> bool:
    """Records that the conversation's sender wrote at ``when`` on the contacts they may be (those
    of ``candidate_contacts``) and on the conversation's verified contact, in one UPDATE; True when
    the sender is one of the candidates (a known phone or Telegram user). The gateway's turn did
    this with a read of the contacts and an ORM write (~3 % of the server's CPU)."""
    contacts = cast(Table, Contact.__table__)
    candidate = _candidate_criterion(conversation)
    verified = contacts.c.id == conversation.contact_id if conversation.contact_id is not None else None
    matches = [c for c in (candidate, verified) if c is not None]
    if not matches:
        return False
    stmt = update(contacts).where(or_(*matches)).values(last_inbound_at=when)
    if candidate is None:
        session.connection().execute(stmt)
        return False
    rows = session.connection().execute(stmt.returning(candidate.label("candidate"))).all()
    return any(row.candidate for row in rows)


def same_sender_conversations(session: Session, conversation: Conversation) -> list[Conversation]:
    """The sender's other conversations, on any channel: the same phone (DDD + last 8 digits) on
    WhatsApp or the sandbox, and the Telegram users linked to the contacts of that phone (or, from
    Telegram, the phones of the contacts linked to that user). Identity failures and the lockout
    count across all of them, so a new channel or conversation does not grant fresh attempts."""
    candidates = candidate_contacts(session, conversation, with_debtor=False)  # phones and ids only
    phone_keys = {c.phone_key for c in candidates if c.phone_key}
    telegram_ids = {str(c.telegram_user_id) for c in candidates if c.telegram_user_id is not None}
    if conversation.channel == Channel.TELEGRAM:
        telegram_ids.add(conversation.address)
    else:
        with contextlib.suppress(InvalidPhone):
            phone_keys.add(match_key(conversation.address))
    conditions = [
        and_(Conversation.channel != Channel.TELEGRAM, Conversation.address.like(f"+55{k[:2]}%{k[2:]}"))
        for k in phone_keys
    ]
    if telegram_ids:
        conditions.append(
            and_(Conversation.channel == Channel.TELEGRAM, Conversation.address.in_(sorted(telegram_ids)))
        )
    if not conditions:
        return []
    stmt = select(Conversation).where(or_(*conditions), Conversation.id != conversation.id)
    return list(session.scalars(stmt.order_by(Conversation.id)))


@dataclass(frozen=True)
class _SenderState:
    """The identity check's state across the sender's conversations (every channel)."""

    status: IdentityStatus
    failures: int
    siblings: list[Conversation]


def _sender_state(
    session: Session, conversation: Conversation, now: datetime, policy: IdentityPolicy
) -> _SenderState:
    """The status and the sender's failures, from one read of the sender's other conversations
    (callers used to read them up to five times in one request)."""
    siblings = same_sender_conversations(session, conversation)
    failures = conversation.verification_failures + sum(c.verification_failures for c in siblings)
    if conversation.disclosure_locked_at is not None or any(
        c.disclosure_locked_at is not None for c in siblings
    ):
        return _SenderState(IdentityStatus.LOCKED, failures, siblings)
    if (
        conversation.contact_id is not None
        and conversation.verified_at is not None
        and now - conversation.verified_at <= policy.verification_valid_for
    ):
        return _SenderState(IdentityStatus.VERIFIED, failures, siblings)
    if not candidate_contacts(session, conversation, with_debtor=False):
        return _SenderState(IdentityStatus.UNKNOWN, failures, siblings)
    return _SenderState(IdentityStatus.UNVERIFIED, failures, siblings)


def _aware(value: datetime) -> datetime:
    # SQLite returns naive datetimes for timezone-aware columns.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def identity_status(
    session: Session, conversation: Conversation, now: datetime, policy: IdentityPolicy
) -> IdentityStatus:
    return _sender_state(session, conversation, now, policy).status


def load_conversation(session: Session, public_id: str, *, for_update: bool = False) -> Conversation:
    conversation = repo.conversation_by_public_id(session, public_id, for_update=for_update)
    if conversation is None:
        raise ConversationNotFound(public_id)
    return conversation


def conversation_context(
    session: Session, public_id: str, now: datetime, policy: IdentityPolicy, creditor_name: str
) -> ConversationContext:
    conversation = load_conversation(session, public_id)
    state = _sender_state(session, conversation, now, policy)
    first_name = None
    if state.status == IdentityStatus.VERIFIED and conversation.contact is not None:
        first_name = conversation.contact.name.split()[0] if conversation.contact.name else None
    attempts_left = max(policy.max_attempts - state.failures, 0)
    if state.status == IdentityStatus.LOCKED:
        attempts_left = 0
    return ConversationContext(state.status, attempts_left, creditor_name, first_name)


def verify_identity(
    session: Session, public_id: str, answer: str, now: datetime, policy: IdentityPolicy
) -> VerificationDecision:
    """Check a typed CNPJ root and record the result (commit is the caller's)."""
    conversation = load_conversation(session, public_id, for_update=True)
    state = _sender_state(session, conversation, now, policy)
    if state.status == IdentityStatus.VERIFIED:
        return VerificationDecision(
            VerificationOutcome.VERIFIED, conversation.verification_failures, 0, conversation.contact_id
        )
    roots = {c.debtor.cnpj_root: c.id for c in candidate_contacts(session, conversation)}
    failures = state.failures  # the sender's, across channels
    decision = decide_verification(
        parse_root(answer),
        roots,
        failures,
        policy.max_attempts,
        locked=state.status == IdentityStatus.LOCKED,
    )
    conversation.verification_failures += decision.failures - failures
    if decision.outcome == VerificationOutcome.VERIFIED:
        conversation.contact_id = decision.contact_id
        conversation.verified_at = now
        conversation.verification_failures = 0
        for sibling in state.siblings:
            sibling.verification_failures = 0
    elif decision.outcome == VerificationOutcome.LOCKED and conversation.disclosure_locked_at is None:
        conversation.disclosure_locked_at = now
        request_handoff(session, conversation, HANDOFF_IDENTITY_FAILED, now)
    session.flush()
    return decision


def verified_conversation(
    session: Session, public_id: str, now: datetime, policy: IdentityPolicy
) -> tuple[Conversation, Contact]:
    """The conversation and its verified contact, or DisclosureRefused: nothing about a debt is
    handled for a sender who has not proved who they are."""
    conversation = load_conversation(session, public_id)
    status = identity_status(session, conversation, now, policy)
    if status != IdentityStatus.VERIFIED or conversation.contact is None:
        raise DisclosureRefused(status)
    return conversation, conversation.contact
