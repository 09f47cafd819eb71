"""Handing a conversation to the collectors: a record with the reason and a summary, and the
state change, through the state machine."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from server.db.models import (
    Conversation,
    ConversationState,
    Direction,
    Handoff,
    Message,
    Quote,
    Role,
    User,
)
from server.domain.conversation_state import InvalidTransition, check_transition
from server.domain.formatting import format_brl
from server.domain.working_hours import WorkingHours
from server.services.app_settings import working_hours

# Reason codes the bot (and the engine) may send.
REASONS = frozenset(
    {
        "request_human", "dispute", "legal_situation", "complaint", "refused_final_offer",
        "max_discount", "max_installments", "min_installment_amount", "min_down_payment",
        "above_authority", "no_policy_rule", "repeated_fallback", "identity_failed", "already_paid",
        "second_copy", "partial_payment", "wrong_amount", "broken_agreement", "engine_unavailable",
    }
)  # fmt: skip


@dataclass(frozen=True)
class HandoffResult:
    handoff: Handoff
    humans_available: bool
    next_opening: datetime


def open_handoff(conversation_id: int, session: Session) -> Handoff | None:
    stmt = select(Handoff).where(Handoff.conversation_id == conversation_id, Handoff.resolved_at.is_(None))
    return session.scalar(stmt.order_by(Handoff.id.desc()).limit(1))


def summary_for(session: Session, conversation: Conversation, note: str | None) -> str:
    lines = []
    contact = conversation.contact
    if contact is not None:
        lines.append(f"Devedor: {contact.debtor.legal_name} (contato {contact.name})")
    quotes = session.scalars(
        select(Quote).where(Quote.conversation_id == conversation.id).order_by(Quote.id)
    ).all()
    for q in quotes[-3:]:
        cash = q.offer["cash"]
        lines.append(
            f"Oferta v{q.policy_version.version} degrau {q.step}: à vista {format_brl(q.balance_total)} → "
            f"{format_brl(Decimal(cash['price']))}"
        )
    last = session.scalars(
        select(Message).where(Message.conversation_id == conversation.id, Message.direction == Direction.INBOUND)
        .order_by(Message.id.desc()).limit(3)
    ).all()  # fmt: skip
    for m in reversed(last):
        lines.append(f"Cliente: {m.text[:200]}")
    if note:
        lines.append(f"Observação: {note[:500]}")
    return "\n".join(lines)


def request_handoff(
    session: Session,
    conversation: Conversation,
    reason: str,
    now: datetime,
    note: str | None = None,
    hours: WorkingHours | None = None,
) -> HandoffResult:
    """bot → waiting_human with a handoff record; asking again while one is open returns it."""
    existing = open_handoff(conversation.id, session)
    if existing is None:
        if conversation.state != ConversationState.WAITING_HUMAN:
            check_transition(conversation.state, ConversationState.WAITING_HUMAN)
            conversation.state = ConversationState.WAITING_HUMAN
        conversation.handoff_reason = reason
        existing = Handoff(
            conversation_id=conversation.id,
            reason=reason,
            summary=summary_for(session, conversation, note),
            created_at=now,
        )
        session.add(existing)
        session.flush()
    if hours is None:
        hours = working_hours(session)  # admin-edited, DEFAULT_WORKING_HOURS until then
    return HandoffResult(existing, hours.is_open(now), hours.next_opening(now))


# --- collectors: claim, release, close ---------------------------------------------------------


class HandoffError(Exception):
    """A handoff action refused, with the reason for the collector (HTTP status in ``status``)."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


def _load(session: Session, handoff_id: int) -> Handoff:
    handoff = session.get(Handoff, handoff_id)
    if handoff is None:
        raise HandoffError("atendimento não encontrado", 404)
    return handoff


def _check(conversation: Conversation, target: ConversationState) -> None:
    try:
        check_transition(conversation.state, target)
    except InvalidTransition as exc:
        raise HandoffError(str(exc)) from exc


def claim_handoff(session: Session, handoff_id: int, user: User, now: datetime) -> Handoff:
    """waiting_human → with_human for ``user``. The conditional UPDATE is what makes two
    collectors unable to hold one handoff: only one statement can see ``claimed_by_id IS NULL``."""
    handoff = _load(session, handoff_id)
    if handoff.resolved_at is not None:
        raise HandoffError("este atendimento já foi encerrado")
    if handoff.claimed_by_id is not None:
        raise HandoffError(_held_message(handoff, user))
    conversation = handoff.conversation
    _check(conversation, ConversationState.WITH_HUMAN)
    try:
        result = session.execute(
            update(Handoff)
            .where(Handoff.id == handoff_id, Handoff.claimed_by_id.is_(None), Handoff.resolved_at.is_(None))
            .values(claimed_by_id=user.id, claimed_at=now)
            .execution_options(synchronize_session=False)
        )
    except OperationalError as exc:  # SQLite: a concurrent writer outlasted the busy timeout
        session.rollback()
        raise HandoffError("outro cobrador está assumindo este atendimento") from exc
    assert isinstance(result, CursorResult)
    if result.rowcount != 1:
        session.rollback()
        session.refresh(handoff)
        raise HandoffError(_held_message(handoff, user))
    conversation.state = ConversationState.WITH_HUMAN
    session.flush()
    session.refresh(handoff)
    return handoff


def _held_message(handoff: Handoff, user: User) -> str:
    if handoff.claimed_by_id == user.id:
        return "você já assumiu este atendimento"
    holder = handoff.claimed_by
    name = (holder.name or holder.email) if holder is not None else "outro cobrador"
    return f"atendimento já assumido por {name}"


def check_holder(handoff: Handoff, user: User) -> None:
    """Only the collector holding a handoff acts on it; admins may act on any."""
    if user.role == Role.ADMIN:
        return
    if handoff.claimed_by_id is None:
        raise HandoffError("assuma o atendimento antes")
    if handoff.claimed_by_id != user.id:
        raise HandoffError(_held_message(handoff, user))


def resolve_handoff(session: Session, handoff_id: int, user: User, now: datetime, *, close: bool) -> Handoff:
    """with_human (or waiting_human) → bot when released, → closed when closed."""
    handoff = _load(session, handoff_id)
    if handoff.resolved_at is not None:
        raise HandoffError("este atendimento já foi encerrado")
    if handoff.claimed_by_id is not None:
        check_holder(handoff, user)
    target = ConversationState.CLOSED if close else ConversationState.BOT
    conversation = handoff.conversation
    _check(conversation, target)
    result = session.execute(
        update(Handoff)
        .where(Handoff.id == handoff_id, Handoff.resolved_at.is_(None))
        .values(resolved_at=now, resolution="closed" if close else "released")
        .execution_options(synchronize_session=False)
    )
    assert isinstance(result, CursorResult)
    if result.rowcount != 1:
        session.rollback()
        raise HandoffError("este atendimento já foi encerrado")
    conversation.state = target
    conversation.handoff_reason = None
    session.flush()
    session.refresh(handoff)
    return handoff


def held_handoff(session: Session, conversation: Conversation, user: User) -> Handoff:
    """The open handoff of a conversation, checked to be held by ``user`` (or any, for admins)."""
    handoff = open_handoff(conversation.id, session)
    if handoff is None or conversation.state != ConversationState.WITH_HUMAN:
        raise HandoffError("a conversa não está com um atendente: assuma o atendimento antes")
    check_holder(handoff, user)
    return handoff
