"""Offers to and from their stored JSON form (amounts as strings: never float)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from server.domain.installments import Installment
from server.domain.offers import CashOption, InstallmentPlan, Offer


def plan_to_dict(plan: InstallmentPlan) -> dict[str, Any]:
    return {
        "down_payment": str(plan.down_payment),
        "down_payment_due": plan.down_payment_due.isoformat() if plan.down_payment_due else None,
        "monthly_interest_pct": str(plan.monthly_interest_pct),
        "installments": [
            {
                "number": i.number,
                "due_date": i.due_date.isoformat(),
                "amount": str(i.amount),
                "interest": str(i.interest),
                "amortization": str(i.amortization),
            }
            for i in plan.installments
        ],
    }


def plan_from_dict(data: dict[str, Any]) -> InstallmentPlan:
    return InstallmentPlan(
        down_payment=Decimal(data["down_payment"]),
        down_payment_due=date.fromisoformat(data["down_payment_due"]) if data["down_payment_due"] else None,
        monthly_interest_pct=Decimal(data["monthly_interest_pct"]),
        installments=tuple(
            Installment(
                number=i["number"],
                due_date=date.fromisoformat(i["due_date"]),
                amount=Decimal(i["amount"]),
                interest=Decimal(i["interest"]),
                amortization=Decimal(i["amortization"]),
            )
            for i in data["installments"]
        ),
    )


def offer_to_dict(offer: Offer) -> dict[str, Any]:
    return {
        "as_of": offer.as_of.isoformat(),
        "balance_total": str(offer.balance_total),
        "step": offer.step,
        "final": offer.final,
        "cash": {
            "discount_pct": str(offer.cash.discount_pct),
            "discount_amount": str(offer.cash.discount_amount),
            "price": str(offer.cash.price),
            "due_date": offer.cash.due_date.isoformat(),
        },
        "plans": [plan_to_dict(p) for p in offer.plans],
    }


def offer_from_dict(data: dict[str, Any]) -> Offer:
    cash = data["cash"]
    return Offer(
        as_of=date.fromisoformat(data["as_of"]),
        balance_total=Decimal(data["balance_total"]),
        step=data["step"],
        final=data["final"],
        cash=CashOption(
            Decimal(cash["discount_pct"]),
            Decimal(cash["discount_amount"]),
            Decimal(cash["price"]),
            date.fromisoformat(cash["due_date"]),
        ),
        plans=tuple(plan_from_dict(p) for p in data["plans"]),
    )
