"""Negotiation use cases: quote a debt, apply a move, persist each offer with its policy version.

A quote lives until the end of its day (America/Sao_Paulo). Moves continue from the latest valid
quote of the conversation, under that quote's policy version: a policy change applies to new
negotiations only.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import (
    Conversation,
    Debtor,
    Invoice,
    InvoiceStatus,
    PolicyVersion,
    Quote,
)
from server.domain import negotiation as moves
from server.domain.money import ZERO, Balance, updated_balance
from server.domain.negotiation import Outcome, Reason, Situation
from server.domain.offers import violations
from server.services.creditor import late_charge_rules
from server.services.handoffs import request_handoff
from server.services.offer_codec import offer_to_dict, plan_to_dict
from server.services.policy import active_policy, policy_of

TZ = ZoneInfo("America/Sao_Paulo")


class NegotiationError(ValueError):
    """Bad input for a negotiation (shown to the caller as a 4xx with this reason)."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


class Move(enum.StrEnum):
    REFUSE = "refuse"
    INSTALLMENTS = "installments"
    MONTHLY = "monthly_amount"
    DOWN_PAYMENT = "down_payment"
    CASH = "cash_amount"
    HARDSHIP = "hardship"
    POSTPONE = "postpone"


@dataclass(frozen=True)
class DebtItem:
    invoice: Invoice
    balance: Balance


@dataclass(frozen=True)
class MoveResult:
    outcome: Outcome
    quote: Quote | None


def end_of_day(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=TZ)


def overdue_items(
    session: Session, debtor: Debtor, today: date, invoice_numbers: Sequence[str] | None = None
) -> list[DebtItem]:
    """Open overdue invoices with their updated balance (all, or the chosen subset)."""
    stmt = select(Invoice).where(Invoice.debtor_id == debtor.id, Invoice.status == InvoiceStatus.OPEN)
    invoices = {i.number: i for i in session.scalars(stmt.order_by(Invoice.due_date, Invoice.number))}
    rules = late_charge_rules(debtor.creditor)
    if invoice_numbers:
        unknown = [n for n in invoice_numbers if n not in invoices]
        if unknown:
            raise NegotiationError(
                f"fatura(s) não encontrada(s) em aberto para este devedor: {', '.join(unknown)}"
            )
        chosen = [invoices[n] for n in dict.fromkeys(invoice_numbers)]
    else:
        chosen = [i for i in invoices.values() if i.due_date < today]
    return [DebtItem(i, updated_balance(i.principal, i.due_date, today, rules)) for i in chosen]


def _situation(
    version: PolicyVersion, items: list[DebtItem], debtor: Debtor, today: date, step: int
) -> Situation:
    total = sum((it.balance.total for it in items), ZERO)
    days = max((it.balance.days_late for it in items), default=0)
    policy = policy_of(version)
    return Situation(total, policy.rule_for(max(days, 1), debtor.segment, total), policy.ladder, today, step)


def _persist(
    session: Session,
    outcome: Outcome,
    situation: Situation,
    version: PolicyVersion,
    debtor: Debtor,
    items: list[DebtItem],
    conversation: Conversation | None,
) -> Quote | None:
    if outcome.offer is None:
        return None
    assert situation.rule is not None
    # Defence in depth: the domain guarantees this, and nothing outside the policy is ever stored.
    broken = violations(outcome.offer, situation.rule)
    if broken:
        raise AssertionError(f"offer outside policy v{version.version}: {broken}")
    data = offer_to_dict(outcome.offer)
    data["days_overdue"] = max((it.balance.days_late for it in items), default=0)
    if outcome.proposed_plan is not None:
        data["proposed_plan"] = plan_to_dict(outcome.proposed_plan)
    quote = Quote(
        debtor_id=debtor.id,
        conversation_id=conversation.id if conversation else None,
        policy_version_id=version.id,
        step=outcome.offer.step,
        final=outcome.offer.final,
        reason=outcome.reason.value,
        invoice_ids=[it.invoice.id for it in items],
        balance_total=outcome.offer.balance_total,
        offer=data,
        as_of=situation.today,
        expires_at=end_of_day(situation.today),
    )
    session.add(quote)
    session.flush()
    return quote


def _hand_off(session: Session, conversation: Conversation | None, outcome: Outcome, now: datetime) -> None:
    if conversation is not None and outcome.needs_human:
        request_handoff(session, conversation, outcome.reason.value, now)


def open_negotiation(
    session: Session,
    debtor: Debtor,
    today: date,
    conversation: Conversation | None = None,
    invoice_numbers: Sequence[str] | None = None,
    now: datetime | None = None,
) -> MoveResult:
    """The opening offer for a debtor's overdue invoices under the policy in force."""
    now = now or datetime.combine(today, time(12), tzinfo=TZ)
    if debtor.legal_hold or debtor.in_dispute:
        outcome = Outcome(Reason.NO_POLICY, needs_human=True)
        _hand_off(session, conversation, outcome, now)
        return MoveResult(outcome, None)
    items = overdue_items(session, debtor, today, invoice_numbers)
    if not items:
        raise NegotiationError("não há faturas vencidas em aberto para negociar", status=409)
    version, _ = active_policy(session)
    situation = _situation(version, items, debtor, today, 0)
    outcome = moves.opening(situation)
    _hand_off(session, conversation, outcome, now)
    return MoveResult(outcome, _persist(session, outcome, situation, version, debtor, items, conversation))


def latest_quote(session: Session, conversation: Conversation, now: datetime) -> Quote | None:
    stmt = (
        select(Quote)
        .where(Quote.conversation_id == conversation.id, Quote.expires_at > now)
        .order_by(Quote.id.desc())
        .limit(1)
    )
    return session.scalar(stmt)


def apply_move(
    session: Session,
    debtor: Debtor,
    conversation: Conversation,
    move: Move,
    today: date,
    now: datetime,
    value: Decimal | int | date | None = None,
) -> MoveResult:
    """Apply a debtor's move to the conversation's current quote (or open one)."""
    current = latest_quote(session, conversation, now)
    if current is None:
        opened = open_negotiation(session, debtor, today, conversation, now=now)
        if opened.quote is None:
            return opened
        current = opened.quote
    return _apply(session, debtor, conversation, current, move, today, now, value)


def _apply(
    session: Session,
    debtor: Debtor,
    conversation: Conversation,
    current: Quote,
    move: Move,
    today: date,
    now: datetime,
    value: Decimal | int | date | None,
) -> MoveResult:
    items_by_id = {it.invoice.id: it for it in overdue_items(session, debtor, today, None)}
    chosen = [items_by_id[i] for i in current.invoice_ids if i in items_by_id]
    if not chosen:
        raise NegotiationError("as faturas desta cotação não estão mais em aberto", status=409)
    situation = _situation(current.policy_version, chosen, debtor, today, current.step)
    outcome = _dispatch(situation, move, value)
    _hand_off(session, conversation, outcome, now)
    quote = _persist(session, outcome, situation, current.policy_version, debtor, chosen, conversation)
    return MoveResult(outcome, quote)


def _need(value: object, kind: type, what: str) -> object:
    if not isinstance(value, kind) or isinstance(value, bool):
        raise NegotiationError(f"informe {what}")
    return value


def _dispatch(s: Situation, move: Move, value: Decimal | int | date | None) -> Outcome:
    if move == Move.REFUSE:
        return moves.refuse(s)
    if move == Move.HARDSHIP:
        return moves.hardship(s)
    if move == Move.INSTALLMENTS:
        n = _need(value, int, "o número de parcelas")
        assert isinstance(n, int)
        if not 1 <= n <= 360:
            raise NegotiationError("número de parcelas deve estar entre 1 e 360")
        return moves.request_installments(s, n)
    if move == Move.POSTPONE:
        wanted = _need(value, date, "a data desejada")
        assert isinstance(wanted, date)
        return moves.postpone(s, wanted)
    amount = _need(value, Decimal, "o valor")
    assert isinstance(amount, Decimal)
    if move == Move.MONTHLY:
        return moves.counter_monthly(s, amount)
    if move == Move.DOWN_PAYMENT:
        return moves.counter_down_payment(s, amount)
    return moves.counter_cash(s, amount)
