from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.domain.formatting import format_brl, format_date
from server.domain.money import LateChargeRules, to_cents, updated_balance


def test_balance_before_due_date_is_principal_only() -> None:
    b = updated_balance(Decimal("1000.00"), date(2026, 11, 30), date(2026, 11, 22))
    assert (b.late_fee, b.interest, b.total, b.days_late) == (
        Decimal("0.00"),
        Decimal("0.00"),
        Decimal("1000.00"),
        0,
    )


def test_balance_on_due_date_has_no_charges() -> None:
    b = updated_balance(Decimal("1000.00"), date(2026, 11, 22), date(2026, 11, 22))
    assert b.total == Decimal("1000.00")


def test_balance_hand_computed() -> None:
    # P = 2 350,00, 20 days late: multa 2% = 47,00; juros 1% a.m. pro rata = 2350 * 0.01 * 20/30 = 15,666.. -> 15,67
    b = updated_balance(Decimal("2350.00"), date(2026, 11, 2), date(2026, 11, 22))
    assert b.days_late == 20
    assert b.late_fee == Decimal("47.00")
    assert b.interest == Decimal("15.67")
    assert b.total == Decimal("2412.67")


def test_balance_half_up_rounding() -> None:
    # 0,25 * 2% = 0,005 -> 0,01 (half-up, not banker's rounding)
    b = updated_balance(Decimal("0.25"), date(2026, 1, 1), date(2026, 1, 2))
    assert b.late_fee == Decimal("0.01")


def test_balance_with_creditor_rules() -> None:
    rules = LateChargeRules(late_fee_pct=Decimal("10"), monthly_interest_pct=Decimal("2"))
    b = updated_balance(Decimal("1000.00"), date(2026, 1, 1), date(2026, 1, 31), rules)
    assert (b.late_fee, b.interest) == (Decimal("100.00"), Decimal("20.00"))


def test_money_refuses_float() -> None:
    with pytest.raises(TypeError):
        to_cents(1.1)  # type: ignore[arg-type]


@given(
    principal=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("10000000"), places=2),
    days=st.integers(min_value=0, max_value=3650),
)
def test_balance_components_are_cents_and_add_up(principal: Decimal, days: int) -> None:
    b = updated_balance(principal, date(2020, 1, 1), date.fromordinal(date(2020, 1, 1).toordinal() + days))
    for part in (b.principal, b.late_fee, b.interest, b.total):
        assert part == part.quantize(Decimal("0.01"))
    assert b.total == b.principal + b.late_fee + b.interest
    assert b.total >= principal


@pytest.mark.parametrize(
    "value, shown",
    [
        (Decimal("1234.56"), "R$ 1.234,56"),
        (Decimal("0.5"), "R$ 0,50"),
        (Decimal("1000000"), "R$ 1.000.000,00"),
        (Decimal("999.995"), "R$ 1.000,00"),
        (Decimal("-12.3"), "-R$ 12,30"),
    ],
)
def test_format_brl(value: Decimal, shown: str) -> None:
    assert format_brl(value) == shown


def test_format_date() -> None:
    assert format_date(date(2026, 7, 5)) == "05/07/2026"
