"""Negotiation moves: what the bot answers to a refusal, a request or a counter-offer (pure).

Each move returns an ``Outcome`` the dialogue can put into words: the offer (if any), why it was
made, whether it is final and whether a human must take over. The bot concedes one ladder step
per refusal and never beyond the rule's limits; past its final offer it hands off.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import ROUND_UP, Decimal

from server.domain.money import CENT
from server.domain.offers import (
    CashOption,
    InstallmentPlan,
    Offer,
    best_plan,
    build_plan,
    cash_option,
    down_payment_floor,
    make_offer,
    step_discount_pct,
    step_max_installments,
)
from server.domain.policy import HUNDRED, LadderStep, OfferRule


class Reason(enum.StrEnum):
    OPENING = "opening"
    NEXT_STEP = "next_step"
    WITHIN_LIMITS = "within_limits"
    MAX_INSTALLMENTS = "max_installments"
    MIN_INSTALLMENT = "min_installment_amount"
    MIN_DOWN_PAYMENT = "min_down_payment"
    MAX_DISCOUNT = "max_discount"
    FIRST_DUE_LIMIT = "first_due_limit"
    HARDSHIP = "hardship"
    ABOVE_AUTHORITY = "above_authority"
    REFUSED_FINAL = "refused_final_offer"
    NO_POLICY = "no_policy_rule"


@dataclass(frozen=True)
class Outcome:
    reason: Reason
    offer: Offer | None = None
    # The plan or cash amount that answers the debtor's request, when there is one.
    proposed_plan: InstallmentPlan | None = None
    accepted_counter: bool = False
    needs_human: bool = False

    @property
    def final(self) -> bool:
        return self.offer is not None and self.offer.final


@dataclass(frozen=True)
class Situation:
    """What a move needs to know: the debt, the rule in force, and where the ladder stands."""

    total: Decimal
    rule: OfferRule | None
    ladder: tuple[LadderStep, ...]
    today: date
    step: int = 0

    @property
    def last_step(self) -> int:
        return len(self.ladder) - 1


def _guard(s: Situation) -> Outcome | None:
    if s.rule is None:
        return Outcome(Reason.NO_POLICY, needs_human=True)
    if s.total > s.rule.bot_authority_limit:
        return Outcome(Reason.ABOVE_AUTHORITY, needs_human=True)
    return None


def _offer(s: Situation, step: int, first_due_days: int | None = None) -> Offer:
    assert s.rule is not None
    if first_due_days is None:
        return make_offer(s.total, s.rule, s.ladder, step, s.today)
    return make_offer(s.total, s.rule, s.ladder, step, s.today, first_due_days)


def opening(s: Situation) -> Outcome:
    return _guard(s) or Outcome(Reason.OPENING, _offer(s, 0))


def refuse(s: Situation) -> Outcome:
    """A 'no': concede one step, or hand off once the final offer was refused."""
    if guard := _guard(s):
        return guard
    if s.step >= s.last_step:
        return Outcome(Reason.REFUSED_FINAL, needs_human=True)
    return Outcome(Reason.NEXT_STEP, _offer(s, s.step + 1))


def _step_allowing(s: Situation, n: int) -> int:
    assert s.rule is not None
    for index in range(s.step, len(s.ladder)):
        if step_max_installments(s.rule, s.ladder[index]) >= n:
            return index
    return s.last_step


def request_installments(s: Situation, n: int) -> Outcome:
    """'Can I pay in n installments?': the best plan with at most n within limits, and why."""
    if guard := _guard(s):
        return guard
    assert s.rule is not None
    wanted = max(n, 1)
    step = _step_allowing(s, min(wanted, s.rule.max_installments))
    offer = _offer(s, step)
    plan = best_plan(s.total, s.rule, min(wanted, s.rule.max_installments), offer.cash.due_date)
    if plan is None:
        # Even one installment breaks the minimums: only cash remains.
        return Outcome(Reason.MIN_INSTALLMENT, offer)
    if plan.count == wanted:
        return Outcome(Reason.WITHIN_LIMITS, offer, plan, accepted_counter=True)
    reason = Reason.MAX_INSTALLMENTS if wanted > s.rule.max_installments else Reason.MIN_INSTALLMENT
    return Outcome(reason, offer, plan)


def _final_or_handoff(s: Situation, reason: Reason, proposal: InstallmentPlan | None = None) -> Outcome:
    """An out-of-limit counter-offer: the closest offer within limits, final; a human if the
    bot had already made its final offer."""
    if s.step >= s.last_step:
        return Outcome(reason, needs_human=True)
    return Outcome(reason, _offer(s, s.last_step), proposal)


def counter_monthly(s: Situation, amount: Decimal) -> Outcome:
    """'I can pay R$ X a month.'"""
    if guard := _guard(s):
        return guard
    assert s.rule is not None
    offer = _offer(s, s.last_step)
    due = offer.cash.due_date
    for n in range(1, s.rule.max_installments + 1):
        plan = build_plan(s.total, s.rule, n, due)
        if plan is not None and plan.installment_amount <= amount:
            return Outcome(Reason.WITHIN_LIMITS, _offer(s, max(s.step, _step_allowing(s, n))), plan,
                           accepted_counter=True)  # fmt: skip
    closest = best_plan(s.total, s.rule, s.rule.max_installments, due)
    reason = Reason.MIN_INSTALLMENT if amount < s.rule.min_installment_amount else Reason.MAX_INSTALLMENTS
    return _final_or_handoff(s, reason, closest)


def counter_down_payment(s: Situation, amount: Decimal) -> Outcome:
    """'I can give R$ X de entrada.'"""
    if guard := _guard(s):
        return guard
    assert s.rule is not None
    amount = amount.quantize(CENT)
    offer = _offer(s, s.step)
    max_n = step_max_installments(s.rule, s.ladder[s.step])
    if amount >= down_payment_floor(s.total, s.rule):
        if amount >= s.total:
            return Outcome(Reason.WITHIN_LIMITS, offer, accepted_counter=True)  # that is paying in cash
        plan = best_plan(s.total, s.rule, max_n, offer.cash.due_date, amount) or best_plan(
            s.total, s.rule, s.rule.max_installments, offer.cash.due_date, amount
        )
        if plan is not None:
            return Outcome(Reason.WITHIN_LIMITS, offer, plan, accepted_counter=True)
    floor_plan = best_plan(s.total, s.rule, s.rule.max_installments, offer.cash.due_date)
    return _final_or_handoff(s, Reason.MIN_DOWN_PAYMENT, floor_plan)


def counter_cash(s: Situation, amount: Decimal) -> Outcome:
    """'I pay R$ X à vista.' Accepted when it is at least the price at the maximum discount."""
    if guard := _guard(s):
        return guard
    assert s.rule is not None
    amount = amount.quantize(CENT)
    floor = cash_option(s.total, s.rule.max_cash_discount_pct, s.today).price
    if amount < floor:
        return _final_or_handoff(s, Reason.MAX_DISCOUNT)
    price = min(amount, s.total)
    # The smallest step whose discount already reaches this price: later moves continue from it.
    step = next(
        (i for i in range(s.step, len(s.ladder))
         if cash_option(s.total, step_discount_pct(s.rule, s.ladder[i]), s.today).price <= price),
        s.last_step,
    )  # fmt: skip
    offer = _offer(s, step)
    discount = s.total - price
    # Rounded up to 2 places it still cannot pass the maximum, since price >= floor.
    pct = (discount * HUNDRED / s.total).quantize(CENT, rounding=ROUND_UP) if s.total else Decimal(0)
    accepted = CashOption(pct, discount, price, offer.cash.due_date)
    return Outcome(Reason.WITHIN_LIMITS, replace(offer, cash=accepted), accepted_counter=True)


def hardship(s: Situation) -> Outcome:
    """'The company is struggling': the last ladder step with all the first-due-date room."""
    if guard := _guard(s):
        return guard
    assert s.rule is not None
    return Outcome(Reason.HARDSHIP, _offer(s, s.last_step, s.rule.max_first_due_days))


def postpone(s: Situation, wanted: date) -> Outcome:
    """'Can I pay on <date>?': accepted within max_first_due_days, otherwise the latest allowed."""
    if guard := _guard(s):
        return guard
    assert s.rule is not None
    latest = s.today + timedelta(days=s.rule.max_first_due_days)
    days = (min(max(wanted, s.today), latest) - s.today).days
    offer = _offer(s, s.step, days)
    if wanted <= latest:
        return Outcome(Reason.WITHIN_LIMITS, offer, accepted_counter=True)
    return Outcome(Reason.FIRST_DUE_LIMIT, offer)
