"""A collector's manual agreement, within their authority, through the engine's own builders.

The offer is stored as a quote (so every offer made to a debtor is in the quotes table) and turned
into an agreement by the same code that makes the bot's, with the PIX codes and the term.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Literal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.db.models import Agreement, Conversation, Quote, Role, User
from server.domain.collector_authority import Authority
from server.domain.money import ZERO
from server.domain.offers import Offer, build_plan, cash_option, cash_violations, plan_violations
from server.services.agreements import Acceptance, create_agreement
from server.services.negotiation import NegotiationError, end_of_day, overdue_items
from server.services.offer_codec import offer_to_dict
from server.services.policy import active_policy
from server.settings import Settings

VIOLATION_TEXT = {
    "max_cash_discount_pct": "desconto acima da sua alçada",
    "max_installments": "parcelas acima da sua alçada",
    "min_installment_amount": "parcela abaixo do mínimo",
    "min_down_payment_pct": "entrada abaixo do mínimo",
    "max_first_due_days": "primeiro vencimento fora do prazo permitido",
    "monthly_interest_pct": "juros diferentes dos da sua alçada",
}


@dataclass(frozen=True)
class ManualTerms:
    kind: Literal["cash", "plan"]
    first_due: date
    discount_pct: Decimal = ZERO  # cash
    installments: int = 1  # plan
    down_payment: Decimal = ZERO  # plan


def make_manual_agreement(
    session: Session,
    conversation: Conversation,
    user: User,
    authority: Authority,
    terms: ManualTerms,
    settings: Settings,
    today: date,
    now: datetime,
) -> Agreement:
    """Creates the agreement (the caller commits); ``NegotiationError`` (with a reason) when not allowed."""
    contact = conversation.contact
    if contact is None:
        raise NegotiationError("a conversa não tem um contato verificado", status=409)
    debtor = contact.debtor
    if debtor.in_dispute or debtor.legal_hold:
        raise NegotiationError("resolva a contestação ou o bloqueio jurídico antes de fechar acordo", 409)
    items = overdue_items(session, debtor, today)
    if not items:
        raise NegotiationError("não há faturas vencidas em aberto para negociar", status=409)
    total = sum((it.balance.total for it in items), ZERO)
    if total > authority.limit_amount and user.role != Role.ADMIN:
        raise NegotiationError("dívida acima da sua alçada: peça a um administrador", status=409)
    rule = authority.as_rule()
    if terms.first_due < today or terms.first_due > today + timedelta(days=rule.max_first_due_days):
        raise NegotiationError(VIOLATION_TEXT["max_first_due_days"])
    cash = cash_option(total, terms.discount_pct if terms.kind == "cash" else ZERO, terms.first_due)
    if terms.kind == "cash":
        broken = cash_violations(cash, rule, total, today)
        plans: tuple = ()
        key = "cash"
    else:
        plan = build_plan(total, rule, terms.installments, terms.first_due, terms.down_payment)
        if plan is None:
            raise NegotiationError("plano inválido: confira entrada e parcela mínimas da sua alçada")
        broken = plan_violations(plan, rule, total, today)
        plans = (plan,)
        key = "plan-1"
    if broken:
        raise NegotiationError("; ".join(VIOLATION_TEXT.get(b, b) for b in broken))
    option = cash if terms.kind == "cash" else plans[0]
    version, _ = active_policy(session)
    data = offer_to_dict(Offer(today, total, 0, True, cash, plans))
    data["days_overdue"] = max(it.balance.days_late for it in items)
    data["made_by"] = f"user:{user.id}"
    quote = Quote(
        debtor_id=debtor.id, conversation_id=conversation.id, policy_version_id=version.id, step=0,
        final=True, reason="collector", invoice_ids=[it.invoice.id for it in items], balance_total=total,
        offer=data, as_of=today, expires_at=end_of_day(today),
    )  # fmt: skip
    session.add(quote)
    session.flush()
    acceptance = Acceptance(conversation.channel.value, conversation, None, contact, now)
    try:
        return create_agreement(session, quote, key, option, acceptance, settings, f"user:{user.id}")
    except IntegrityError as exc:
        session.rollback()
        raise NegotiationError("as faturas já estão em outro acordo", status=409) from exc
