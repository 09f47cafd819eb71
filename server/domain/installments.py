"""Installment schedules: Price table (tabela Price), cents rounding and monthly due dates."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, localcontext

from server.domain.money import CENT, ZERO, to_cents


def add_months(start: date, months: int) -> date:
    """Same day ``months`` later, clamped to the month's last day (31/01 + 1 → 28/02)."""
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def price_payment(financed: Decimal, monthly_rate: Decimal, n: int) -> Decimal:
    """PMT = S·i / (1 − (1+i)^−n), or S/n when i = 0; rounded to cents (half-up)."""
    if n < 1:
        raise ValueError("n must be at least 1")
    if monthly_rate == 0:
        return to_cents(financed / n)
    with localcontext() as ctx:
        ctx.prec = 40
        pmt = financed * monthly_rate / (1 - (1 + monthly_rate) ** -n)
    return pmt.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Installment:
    number: int  # 1..n (the down payment is not an installment)
    due_date: date
    amount: Decimal
    interest: Decimal
    amortization: Decimal


def price_schedule(
    financed: Decimal, monthly_rate: Decimal, n: int, first_due: date
) -> tuple[Installment, ...]:
    """Amortisation schedule: every installment is the rounded PMT except the last, which absorbs
    the rounding so the amortisations add up to the financed amount to the cent."""
    pmt = price_payment(financed, monthly_rate, n)
    balance = financed
    rows = []
    for k in range(1, n + 1):
        interest = to_cents(balance * monthly_rate)
        amortization = balance if k == n else pmt - interest
        rows.append(
            Installment(k, add_months(first_due, k - 1), interest + amortization, interest, amortization)
        )
        balance -= amortization
    assert balance == ZERO
    return tuple(rows)
