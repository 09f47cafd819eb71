"""Money: Decimal amounts with two places (half-up) and the updated balance of overdue invoices."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
HUNDRED = Decimal(100)
_PCT_MONTH = Decimal(3000)  # percent (100) x 30-day month


def to_cents(value: Decimal) -> Decimal:
    """Round to two places, half-up (the rule for every amount negocia shows or stores)."""
    if not isinstance(value, Decimal):
        raise TypeError(f"money must be Decimal, not {type(value).__name__}")
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class LateChargeRules:
    """Per-creditor late charges (DESIGN §4): a one-off multa and simple pro-rata juros."""

    late_fee_pct: Decimal = Decimal("2")
    monthly_interest_pct: Decimal = Decimal("1")


class Balance(NamedTuple):  # a tuple: cheap to build, one per invoice in every quote
    principal: Decimal
    late_fee: Decimal
    interest: Decimal
    days_late: int

    @property
    def total(self) -> Decimal:
        return self.principal + self.late_fee + self.interest


def updated_balance(
    principal: Decimal, due_date: date, as_of: date, rules: LateChargeRules = LateChargeRules()
) -> Balance:
    """Principal + multa + juros de mora as of ``as_of``; nothing is added before the due date."""
    # Hot path of every quote (one call per invoice): plain Decimal arithmetic, no helpers.
    if not isinstance(principal, Decimal):
        raise TypeError(f"money must be Decimal, not {type(principal).__name__}")
    principal = principal.quantize(CENT, rounding=ROUND_HALF_UP)
    days_late = (as_of - due_date).days
    if days_late <= 0:
        return Balance(principal, ZERO, ZERO, 0)
    late_fee = (principal * rules.late_fee_pct / HUNDRED).quantize(CENT, rounding=ROUND_HALF_UP)
    interest = (principal * rules.monthly_interest_pct * days_late / _PCT_MONTH).quantize(
        CENT, rounding=ROUND_HALF_UP
    )
    return Balance(principal, late_fee, interest, days_late)
