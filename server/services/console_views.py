"""Read models for the collector console and the staff API: the queue and a conversation with
everything a collector needs beside it (debtor, invoices, balance, offers, handoff, agreements)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from server.db.models import (
    Agreement,
    Contact,
    Conversation,
    ConversationState,
    Debtor,
    Handoff,
    Message,
    Quote,
)
from server.domain.money import ZERO
from server.services.handoffs import open_handoff
from server.services.media_files import MediaItem, media_by_message
from server.services.negotiation import DebtItem, overdue_items
from server.services.offer_codec import offer_from_dict

HANDOFF_STATES = {
    "waiting_human": ConversationState.WAITING_HUMAN,
    "with_human": ConversationState.WITH_HUMAN,
    "closed": ConversationState.CLOSED,
}


@dataclass(frozen=True)
class QueueItem:
    handoff: Handoff
    conversation: Conversation
    debtor: Debtor | None
    amount: Decimal
    waiting_since: datetime


def _debtor(conversation: Conversation) -> Debtor | None:
    return conversation.contact.debtor if conversation.contact is not None else None


def _amount(session: Session, debtor: Debtor | None, today: date, cache: dict[int, Decimal]) -> Decimal:
    if debtor is None:
        return ZERO
    if debtor.id not in cache:
        cache[debtor.id] = sum((it.balance.total for it in overdue_items(session, debtor, today)), ZERO)
    return cache[debtor.id]


def queue(session: Session, state: str, today: date, limit: int = 200) -> list[QueueItem]:
    """``waiting_human``: open handoffs nobody holds, longest wait first, then largest amount;
    ``with_human``: handoffs held by a collector; ``closed``: resolved handoffs, latest first."""
    stmt = select(Handoff).options(
        selectinload(Handoff.conversation).selectinload(Conversation.contact).selectinload(Contact.debtor),
        selectinload(Handoff.claimed_by),
    )
    if state == "waiting_human":
        stmt = stmt.where(Handoff.resolved_at.is_(None), Handoff.claimed_by_id.is_(None))
    elif state == "with_human":
        stmt = stmt.where(Handoff.resolved_at.is_(None), Handoff.claimed_by_id.is_not(None))
    else:
        stmt = stmt.where(Handoff.resolved_at.is_not(None))
    order = Handoff.resolved_at.desc() if state == "closed" else Handoff.created_at
    handoffs = session.scalars(stmt.order_by(order, Handoff.id).limit(limit)).all()
    cache: dict[int, Decimal] = {}
    items = [
        QueueItem(h, h.conversation, _debtor(h.conversation),
                  _amount(session, _debtor(h.conversation), today, cache), h.created_at)
        for h in handoffs
    ]  # fmt: skip
    if state != "closed":
        # Waiting time first (minute resolution, so equal waits are ordered by amount).
        items.sort(key=lambda i: (i.waiting_since.replace(second=0, microsecond=0), -i.amount))
    return items


@dataclass(frozen=True)
class OfferLine:
    quote: Quote
    cash_price: Decimal
    cash_discount_pct: Decimal
    plans: list[tuple[int, Decimal, Decimal]]  # (installments, down payment, installment amount)


@dataclass
class ConversationView:
    conversation: Conversation
    messages: Sequence[Message]
    handoff: Handoff | None
    last_handoff: Handoff | None
    debtor: Debtor | None
    items: list[DebtItem] = field(default_factory=list)
    total: Decimal = ZERO
    offers: list[OfferLine] = field(default_factory=list)
    agreements: Sequence[Agreement] = ()
    media: dict[int, list[MediaItem]] = field(default_factory=dict)  # inbound attachments by message id


def conversation_view(session: Session, conversation: Conversation, today: date) -> ConversationView:
    messages = session.scalars(
        select(Message).where(Message.conversation_id == conversation.id).order_by(Message.id)
    ).all()
    last = session.scalar(
        select(Handoff).where(Handoff.conversation_id == conversation.id).order_by(Handoff.id.desc()).limit(1)
    )
    debtor = _debtor(conversation)
    view = ConversationView(conversation, messages, open_handoff(conversation.id, session), last, debtor)
    view.media = media_by_message(messages)
    if debtor is None:
        return view
    view.items = overdue_items(session, debtor, today)
    view.total = sum((it.balance.total for it in view.items), ZERO)
    quotes = session.scalars(select(Quote).where(Quote.debtor_id == debtor.id).order_by(Quote.id)).all()
    for q in quotes:
        offer = offer_from_dict(q.offer)
        plans = [(p.count, p.down_payment, p.installment_amount) for p in offer.plans]
        view.offers.append(OfferLine(q, offer.cash.price, offer.cash.discount_pct, plans))
    view.agreements = session.scalars(
        select(Agreement).where(Agreement.debtor_id == debtor.id).order_by(Agreement.id.desc())
        .options(selectinload(Agreement.installments))
    ).all()  # fmt: skip
    return view


def messages_after(session: Session, conversation_id: int, after_id: int) -> Sequence[Message]:
    stmt = (
        select(Message)
        .where(Message.conversation_id == conversation_id, Message.id > after_id)
        .order_by(Message.id)
        .limit(200)
    )
    return session.scalars(stmt).all()
