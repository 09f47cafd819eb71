"""How amounts and dates are shown to Brazilian readers: ``R$ 1.234,56`` and ``dd/mm/aaaa``."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from server.domain.money import to_cents


def format_brl(value: Decimal) -> str:
    amount = to_cents(value)
    sign = "-" if amount < 0 else ""
    integer, cents = f"{abs(amount):.2f}".split(".")
    groups: list[str] = []
    while len(integer) > 3:
        groups.insert(0, integer[-3:])
        integer = integer[:-3]
    groups.insert(0, integer)
    return f"{sign}R$ {'.'.join(groups)},{cents}"


def format_date(value: date) -> str:
    return value.strftime("%d/%m/%Y")
