"""Domain results to JSON-ready dicts, with Brazilian display strings beside exact amounts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

from server.db.models import Agreement, Quote
from server.domain.formatting import format_brl, format_date
from server.domain.negotiation import Outcome
from server.domain.offers import CashOption, InstallmentPlan
from server.services.agreements import quote_options


def money(value: Decimal) -> dict[str, str]:
    return {"value": str(value), "display": format_brl(value)}


def day(value: date) -> dict[str, str]:
    return {"value": value.isoformat(), "display": format_date(value)}


def cash_view(cash: CashOption) -> dict[str, Any]:
    return {
        "key": "cash",
        "discount_pct": str(cash.discount_pct),
        "discount": money(cash.discount_amount),
        "price": money(cash.price),
        "due_date": day(cash.due_date),
    }


def plan_view(key: str, plan: InstallmentPlan) -> dict[str, Any]:
    return {
        "key": key,
        "installments": plan.count,
        "down_payment": money(plan.down_payment),
        "down_payment_due": day(plan.down_payment_due) if plan.down_payment_due else None,
        "installment_amount": money(plan.installment_amount),
        "last_installment_amount": money(plan.installments[-1].amount),
        "first_installment_due": day(plan.installments[0].due_date),
        "monthly_interest_pct": str(plan.monthly_interest_pct),
        "total": money(plan.total),
        "schedule": [
            {"number": i.number, "due_date": day(i.due_date), "amount": money(i.amount)}
            for i in plan.installments
        ],
    }


def outcome_view(outcome: Outcome, quote: Quote | None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "reason": outcome.reason.value,
        "needs_human": outcome.needs_human,
        "accepted_counter": outcome.accepted_counter,
        "final": outcome.final,
        "quote": None,
    }
    if quote is None:
        return view
    options = quote_options(quote)
    cash = options.pop("cash")
    assert isinstance(cash, CashOption)
    proposal = options.pop("proposal", None)
    view["quote"] = {
        "id": quote.public_id,
        "policy_version": quote.policy_version.version,
        "step": quote.step,
        "expires_at": quote.expires_at.isoformat(),
        "balance_total": money(quote.balance_total),
        "cash": cash_view(cash),
        "plans": [plan_view(k, p) for k, p in options.items() if isinstance(p, InstallmentPlan)],
        "proposal": plan_view("proposal", proposal) if isinstance(proposal, InstallmentPlan) else None,
    }
    return view


def agreement_view(
    agreement: Agreement, term_url: str | None = None, qr_url: Callable[[int], str] | None = None
) -> dict[str, Any]:
    """``qr_url(number)``: the signed link of an installment's QR image, for the debtor's channel."""
    return {
        "id": agreement.public_id,
        "status": agreement.status.value,
        "option": agreement.option,
        "debtor": {"name": agreement.debtor.legal_name, "cnpj": agreement.debtor.cnpj},
        "original_total": money(agreement.original_total),
        "updated_total": money(agreement.updated_total),
        "discount": money(agreement.discount_amount),
        "agreed_total": money(agreement.agreed_total),
        "monthly_interest_pct": str(agreement.monthly_interest_pct),
        "accepted_at": agreement.accepted_at.isoformat(),
        "channel": agreement.channel,
        "message_id": agreement.message_id,
        "terms_sha256": agreement.terms_sha256,
        "invoices": [link.invoice.number for link in agreement.invoices],
        "installments": [
            {
                "number": i.number,
                "due_date": day(i.due_date),
                "amount": money(i.amount),
                "status": i.status.value,
                "txid": i.txid,
                "pix_code": i.pix_code,
                "paid_at": i.paid_at.isoformat() if i.paid_at else None,
                "qr_url": qr_url(i.number) if qr_url else None,
            }
            for i in agreement.installments
        ],
        "term_url": term_url,
    }
