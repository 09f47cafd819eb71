from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from server.domain.installments import add_months, price_payment, price_schedule


def test_design_example() -> None:
    # DESIGN §4: S = 10 000,00, i = 2 % a.m., n = 10 -> 1 113,27
    assert price_payment(Decimal("10000.00"), Decimal("0.02"), 10) == Decimal("1113.27")


def test_zero_interest_splits_evenly_with_leftover_in_the_last() -> None:
    rows = price_schedule(Decimal("100.00"), Decimal("0"), 3, date(2026, 1, 10))
    assert [r.amount for r in rows] == [Decimal("33.33"), Decimal("33.33"), Decimal("33.34")]


def test_due_dates_are_monthly_and_clamped() -> None:
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2026, 1, 31), 2) == date(2026, 3, 31)
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
    rows = price_schedule(Decimal("1000.00"), Decimal("0.01"), 3, date(2026, 12, 31))
    assert [r.due_date for r in rows] == [date(2026, 12, 31), date(2027, 1, 31), date(2027, 2, 28)]


@given(
    financed=st.decimals(min_value=Decimal("1.00"), max_value=Decimal("5000000"), places=2),
    rate=st.decimals(min_value=Decimal("0"), max_value=Decimal("0.08"), places=4),
    n=st.integers(min_value=1, max_value=120),
)
def test_schedule_adds_up_to_the_financed_amount(financed: Decimal, rate: Decimal, n: int) -> None:
    rows = price_schedule(financed, rate, n, date(2026, 1, 15))
    assert len(rows) == n
    assert sum(r.amortization for r in rows) == financed
    for r in rows:
        assert r.amount == r.interest + r.amortization
        assert r.amount == r.amount.quantize(Decimal("0.01"))
    pmt = price_payment(financed, rate, n)
    assert all(r.amount == pmt for r in rows[:-1])
    # The last absorbs only rounding: each period's half-cent roundings (PMT and interest),
    # carried forward at the rate, bound the difference.
    bound = Decimal("0.01") * sum((1 + rate) ** k for k in range(n))
    assert abs(rows[-1].amount - pmt) <= bound
