"""Handing a conversation to the collectors: a record with the reason and a summary, and the
state change, through the state machine."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import Conversation, ConversationState, Direction, Handoff, Message, Quote
from server.domain.conversation_state import check_transition
from server.domain.formatting import format_brl
from server.domain.working_hours import DEFAULT_WORKING_HOURS, WorkingHours

# Reason codes the bot (and the engine) may send.
REASONS = frozenset(
    {
        "request_human", "dispute", "legal_situation", "complaint", "refused_final_offer",
        "max_discount", "max_installments", "min_installment_amount", "min_down_payment",
        "above_authority", "no_policy_rule", "repeated_fallback", "identity_failed", "already_paid",
        "second_copy",
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
    hours: WorkingHours = DEFAULT_WORKING_HOURS,
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
    return HandoffResult(existing, hours.is_open(now), hours.next_opening(now))
