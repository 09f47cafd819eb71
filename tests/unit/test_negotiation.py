"""Every negotiation move, and the invariant: no offer of the bot breaks the policy in force."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from server.domain import negotiation as neg
from server.domain.negotiation import Outcome, Reason, Situation
from server.domain.offers import Offer, make_offer, plan_violations, violations
from server.domain.policy import DEFAULT_POLICY, LadderStep, OfferRule

TODAY = date(2026, 11, 22)
RULE = OfferRule(
    min_days=1, max_days=None, max_cash_discount_pct=Decimal("20"), max_installments=10,
    min_installment_amount=Decimal("200.00"), min_down_payment_pct=Decimal("10"),
    monthly_interest_pct=Decimal("2"), max_first_due_days=10, bot_authority_limit=Decimal("50000.00"),
)  # fmt: skip
LADDER = (
    LadderStep(Decimal("0.5"), Decimal("0.5")),
    LadderStep(Decimal("0.75"), Decimal("0.8")),
    LadderStep(Decimal("1"), Decimal("1")),
)


def sit(total: str = "10000.00", step: int = 0, rule: OfferRule | None = RULE) -> Situation:
    return Situation(Decimal(total), rule, LADDER, TODAY, step)


def test_opening_offer_is_half_the_limits() -> None:
    out = neg.opening(sit())
    assert out.reason == Reason.OPENING and out.offer is not None and not out.final
    assert out.offer.cash.discount_pct == Decimal("10.00")
    assert out.offer.cash.price == Decimal("9000.00")
    assert out.offer.cash.due_date == TODAY + timedelta(days=3)
    best = out.offer.plans[0]
    assert best.count == 5 and best.down_payment == Decimal("1000.00")
    assert best.down_payment_due == TODAY + timedelta(days=3)
    assert best.installments[0].due_date == TODAY + timedelta(days=33)


def test_refusals_climb_the_ladder_then_hand_off() -> None:
    first = neg.refuse(sit(step=0))
    assert first.reason == Reason.NEXT_STEP and first.offer is not None and first.offer.step == 1
    assert first.offer.cash.discount_pct == Decimal("15.00") and first.offer.plans[0].count == 8
    last = neg.refuse(sit(step=1))
    assert last.offer is not None and last.offer.final and last.offer.cash.discount_pct == Decimal("20.00")
    assert last.offer.plans[0].count == 10
    beyond = neg.refuse(sit(step=2))
    assert beyond == Outcome(Reason.REFUSED_FINAL, needs_human=True)


def test_above_bot_authority_goes_to_a_human() -> None:
    out = neg.opening(sit(total="50000.01"))
    assert out.needs_human and out.reason == Reason.ABOVE_AUTHORITY and out.offer is None
    assert neg.opening(sit(total="50000.00")).offer is not None


def test_no_rule_goes_to_a_human() -> None:
    assert neg.opening(sit(rule=None)).reason == Reason.NO_POLICY


def test_installments_within_limits_are_accepted_moving_up_the_ladder() -> None:
    out = neg.request_installments(sit(), 8)
    assert out.accepted_counter and out.reason == Reason.WITHIN_LIMITS
    assert out.proposed_plan is not None and out.proposed_plan.count == 8
    assert out.offer is not None and out.offer.step == 1


def test_too_many_installments_get_the_maximum_and_the_reason() -> None:
    out = neg.request_installments(sit(), 24)
    assert out.reason == Reason.MAX_INSTALLMENTS and not out.accepted_counter
    assert out.proposed_plan is not None and out.proposed_plan.count == 10


def test_installments_below_the_minimum_amount_get_fewer() -> None:
    out = neg.request_installments(sit(total="1000.00"), 6)
    # 900 financed at 2 %: 4x = 236,36; 5x = 190,94 < 200
    assert out.reason == Reason.MIN_INSTALLMENT
    assert out.proposed_plan is not None and out.proposed_plan.count == 4


def test_tiny_debt_offers_only_cash() -> None:
    out = neg.request_installments(sit(total="150.00"), 3)
    assert out.proposed_plan is None and out.offer is not None and out.offer.plans == ()


def test_monthly_counter_offer_within_limits() -> None:
    out = neg.counter_monthly(sit(), Decimal("1200"))
    assert out.accepted_counter and out.proposed_plan is not None
    assert out.proposed_plan.installment_amount <= Decimal("1200")
    assert out.proposed_plan.count == 9  # 9 000 at 2 %: 8x = 1 228,59 > 1 200; 9x = 1 101,81


def test_monthly_counter_offer_too_low_gets_final_offer_then_human() -> None:
    out = neg.counter_monthly(sit(), Decimal("300"))
    assert out.reason == Reason.MAX_INSTALLMENTS and out.offer is not None and out.final
    assert out.proposed_plan is not None and out.proposed_plan.count == 10
    assert neg.counter_monthly(sit(step=2), Decimal("300")).needs_human


def test_down_payment_counter_offer() -> None:
    ok = neg.counter_down_payment(sit(), Decimal("3000"))
    assert (
        ok.accepted_counter
        and ok.proposed_plan is not None
        and ok.proposed_plan.down_payment == Decimal("3000.00")
    )
    low = neg.counter_down_payment(sit(), Decimal("500"))
    assert low.reason == Reason.MIN_DOWN_PAYMENT and low.final
    assert low.proposed_plan is not None and low.proposed_plan.down_payment == Decimal("1000.00")


def test_cash_counter_offer() -> None:
    ok = neg.counter_cash(sit(), Decimal("8500"))
    assert ok.accepted_counter and ok.offer is not None
    assert ok.offer.cash.price == Decimal("8500.00") and ok.offer.cash.discount_pct == Decimal("15.00")
    assert ok.offer.step == 1
    low = neg.counter_cash(sit(), Decimal("7000"))
    assert low.reason == Reason.MAX_DISCOUNT and low.final
    assert low.offer is not None and low.offer.cash.price == Decimal("8000.00")
    assert neg.counter_cash(sit(step=2), Decimal("7000")).needs_human
    more = neg.counter_cash(sit(), Decimal("12000"))
    assert more.offer is not None and more.offer.cash.price == Decimal("10000.00")


def test_hardship_uses_the_whole_first_due_room_and_the_last_step() -> None:
    out = neg.hardship(sit())
    assert out.offer is not None and out.final
    assert out.offer.cash.due_date == TODAY + timedelta(days=10)
    assert out.offer.plans[0].first_due == TODAY + timedelta(days=10)


def test_postponement() -> None:
    ok = neg.postpone(sit(), TODAY + timedelta(days=7))
    assert (
        ok.accepted_counter and ok.offer is not None and ok.offer.cash.due_date == TODAY + timedelta(days=7)
    )
    late = neg.postpone(sit(), TODAY + timedelta(days=40))
    assert late.reason == Reason.FIRST_DUE_LIMIT and late.offer is not None
    assert late.offer.cash.due_date == TODAY + timedelta(days=10)
    past = neg.postpone(sit(), TODAY - timedelta(days=3))
    assert past.offer is not None and past.offer.cash.due_date == TODAY


def test_default_policy_offers_within_limits() -> None:
    rule = DEFAULT_POLICY.rule_for(120, "varejo", Decimal("12780.90"))
    assert rule is not None and rule.min_days == 91
    offer = make_offer(Decimal("13000.00"), rule, DEFAULT_POLICY.ladder, 0, TODAY)
    assert violations(offer, rule) == []


# --- the central invariant, property-based ------------------------------------------------------

money = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("300000"), places=2)


@st.composite
def rules(draw: st.DrawFn) -> OfferRule:
    return OfferRule(
        min_days=1, max_days=None,
        max_cash_discount_pct=draw(st.decimals(min_value=0, max_value=Decimal("90"), places=2)),
        max_installments=draw(st.integers(1, 48)),
        min_installment_amount=draw(st.decimals(min_value=Decimal("1"), max_value=Decimal("2000"), places=2)),
        min_down_payment_pct=draw(st.decimals(min_value=0, max_value=Decimal("60"), places=2)),
        monthly_interest_pct=draw(st.decimals(min_value=0, max_value=Decimal("6"), places=2)),
        max_first_due_days=draw(st.integers(0, 45)),
        bot_authority_limit=draw(st.decimals(min_value=Decimal("100"), max_value=Decimal("500000"), places=2)),
    )  # fmt: skip


@st.composite
def ladders(draw: st.DrawFn) -> tuple[LadderStep, ...]:
    fractions = st.decimals(min_value=0, max_value=1, places=2)
    steps = sorted(draw(st.lists(st.tuples(fractions, fractions), max_size=4)))
    d_prev = i_prev = Decimal(0)
    out = []
    for d, i in steps:
        d_prev, i_prev = max(d, d_prev), max(i, i_prev)
        out.append(LadderStep(d_prev, i_prev))
    return (*out, LadderStep(Decimal(1), Decimal(1)))


moves = st.one_of(
    st.just(("refuse",)),
    st.just(("hardship",)),
    st.tuples(st.just("installments"), st.integers(0, 200)),
    st.tuples(st.just("monthly"), money),
    st.tuples(st.just("down"), money),
    st.tuples(st.just("cash"), money),
    st.tuples(st.just("postpone"), st.integers(-30, 120)),
)


def apply(move: tuple, s: Situation) -> Outcome:  # type: ignore[type-arg]
    kind = move[0]
    if kind == "refuse":
        return neg.refuse(s)
    if kind == "hardship":
        return neg.hardship(s)
    if kind == "installments":
        return neg.request_installments(s, move[1])
    if kind == "monthly":
        return neg.counter_monthly(s, move[1])
    if kind == "down":
        return neg.counter_down_payment(s, move[1])
    if kind == "cash":
        return neg.counter_cash(s, move[1])
    return neg.postpone(s, s.today + timedelta(days=move[1]))


def assert_within(offer: Offer | None, outcome: Outcome, rule: OfferRule, total: Decimal) -> None:
    if offer is not None:
        assert violations(offer, rule) == [], (offer, rule)
        for plan in offer.plans:
            assert sum((i.amortization for i in plan.installments), Decimal(0)) + plan.down_payment == total
            assert all(i.amount > 0 for i in plan.installments)
    if outcome.proposed_plan is not None:
        assert plan_violations(outcome.proposed_plan, rule, total, TODAY) == []


@settings(max_examples=300, deadline=None)
@given(rule=rules(), ladder=ladders(), total=money, script=st.lists(moves, max_size=8))
def test_no_move_sequence_breaks_the_policy(
    rule: OfferRule,
    ladder: tuple[LadderStep, ...],
    total: Decimal,
    script: list[tuple],  # type: ignore[type-arg]
) -> None:
    s = Situation(total, rule, ladder, TODAY, 0)
    outcome = neg.opening(s)
    for move in [None, *script]:
        if move is not None:
            outcome = apply(move, s)
        if total > rule.bot_authority_limit:
            assert outcome.needs_human and outcome.offer is None
            return
        assert_within(outcome.offer, outcome, rule, total)
        if outcome.needs_human:
            assert outcome.offer is None
            return
        assert outcome.offer is not None
        assert outcome.offer.step >= s.step  # the bot never takes a concession back
        s = replace(s, step=outcome.offer.step)
