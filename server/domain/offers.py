"""Offers the bot may make for a debt under one policy rule and one ladder step (pure).

An offer has a PIX cash option (discount on the updated total T) and installment plans
(entrada + n parcelas on the Price table). ``violations`` checks any offer against a rule: the
service refuses to persist an offer that breaks a limit, and property tests hammer it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import ROUND_DOWN, ROUND_UP, Decimal

from server.domain.installments import Installment, price_payment, price_schedule
from server.domain.money import CENT, ZERO
from server.domain.policy import HUNDRED, LadderStep, OfferRule

# Without hardship the entrada (or first installment) is asked within a few days; the rest of the
# max_first_due_days room is a concession kept for hardship and postponement.
STANDARD_FIRST_DUE_DAYS = 3


@dataclass(frozen=True)
class CashOption:
    discount_pct: Decimal
    discount_amount: Decimal
    price: Decimal
    due_date: date


@dataclass(frozen=True)
class InstallmentPlan:
    down_payment: Decimal
    down_payment_due: date | None  # None when there is no entrada
    monthly_interest_pct: Decimal
    installments: tuple[Installment, ...]

    @property
    def count(self) -> int:
        return len(self.installments)

    @property
    def financed(self) -> Decimal:
        return sum((i.amortization for i in self.installments), ZERO)

    @property
    def installment_amount(self) -> Decimal:
        return self.installments[0].amount

    @property
    def total(self) -> Decimal:
        return self.down_payment + sum((i.amount for i in self.installments), ZERO)

    @property
    def first_due(self) -> date:
        return self.down_payment_due or self.installments[0].due_date


@dataclass(frozen=True)
class Offer:
    as_of: date
    balance_total: Decimal
    step: int  # ladder step index
    final: bool  # nothing better will be offered by the bot
    cash: CashOption
    plans: tuple[InstallmentPlan, ...]


def down_payment_floor(total: Decimal, rule: OfferRule) -> Decimal:
    return (total * rule.min_down_payment_pct / HUNDRED).quantize(CENT, rounding=ROUND_UP)


def step_discount_pct(rule: OfferRule, step: LadderStep) -> Decimal:
    return (rule.max_cash_discount_pct * step.discount_fraction).quantize(CENT, rounding=ROUND_DOWN)


def step_max_installments(rule: OfferRule, step: LadderStep) -> int:
    return max(1, int((rule.max_installments * step.installments_fraction).to_integral_value(ROUND_DOWN)))


def cash_option(total: Decimal, discount_pct: Decimal, due: date) -> CashOption:
    # Rounded down: the discount never exceeds the percentage, not even by half a cent.
    discount = (total * discount_pct / HUNDRED).quantize(CENT, rounding=ROUND_DOWN)
    return CashOption(discount_pct, discount, total - discount, due)


def build_plan(
    total: Decimal, rule: OfferRule, n: int, first_due: date, down_payment: Decimal | None = None
) -> InstallmentPlan | None:
    """Entrada + n installments, or None when it cannot respect the rule's minimums."""
    down = down_payment_floor(total, rule) if down_payment is None else down_payment
    if down < down_payment_floor(total, rule) or down >= total:
        return None
    financed = total - down
    rate = rule.monthly_interest_pct / HUNDRED
    if price_payment(financed, rate, n) < rule.min_installment_amount:
        return None
    if down > 0:
        schedule = price_schedule(financed, rate, n, first_due + timedelta(days=30))
        plan = InstallmentPlan(down, first_due, rule.monthly_interest_pct, schedule)
    else:
        plan = InstallmentPlan(
            ZERO, None, rule.monthly_interest_pct, price_schedule(financed, rate, n, first_due)
        )
    if min(i.amount for i in plan.installments) < rule.min_installment_amount:
        return None
    return plan


def best_plan(
    total: Decimal, rule: OfferRule, max_n: int, first_due: date, down_payment: Decimal | None = None
) -> InstallmentPlan | None:
    """The plan with the most installments (lowest monthly amount) up to ``max_n``."""
    for n in range(min(max_n, rule.max_installments), 0, -1):
        plan = build_plan(total, rule, n, first_due, down_payment)
        if plan is not None:
            return plan
    return None


def make_offer(
    total: Decimal,
    rule: OfferRule,
    ladder: tuple[LadderStep, ...],
    step_index: int,
    today: date,
    first_due_days: int = STANDARD_FIRST_DUE_DAYS,
) -> Offer:
    step = ladder[step_index]
    due = today + timedelta(days=min(first_due_days, rule.max_first_due_days))
    cash = cash_option(total, step_discount_pct(rule, step), due)
    plans: list[InstallmentPlan] = []
    best = best_plan(total, rule, step_max_installments(rule, step), due)
    if best is not None:
        plans.append(best)
        # A shorter alternative, for debtors who prefer to finish sooner.
        shorter = best_plan(total, rule, best.count // 2, due) if best.count >= 4 else None
        if shorter is not None and shorter.count != best.count:
            plans.append(shorter)
    return Offer(today, total, step_index, step_index == len(ladder) - 1, cash, tuple(plans))


def mark_final(offer: Offer) -> Offer:
    return replace(offer, final=True)


def plan_violations(plan: InstallmentPlan, rule: OfferRule, total: Decimal, as_of: date) -> list[str]:
    found = []
    if plan.count > rule.max_installments:
        found.append("max_installments")
    if any(i.amount < rule.min_installment_amount for i in plan.installments):
        found.append("min_installment_amount")
    if any(i.amount <= 0 for i in plan.installments):
        found.append("non_positive_installment")
    if plan.down_payment * HUNDRED < total * rule.min_down_payment_pct:
        found.append("min_down_payment_pct")
    if plan.monthly_interest_pct != rule.monthly_interest_pct:
        found.append("monthly_interest_pct")
    if plan.first_due > as_of + timedelta(days=rule.max_first_due_days) or plan.first_due < as_of:
        found.append("max_first_due_days")
    if plan.down_payment + plan.financed != total:
        found.append("financed_amount")
    return found


def cash_violations(cash: CashOption, rule: OfferRule, total: Decimal, as_of: date) -> list[str]:
    found = []
    if (
        cash.discount_pct > rule.max_cash_discount_pct
        or cash.discount_amount * HUNDRED > total * rule.max_cash_discount_pct
    ):
        found.append("max_cash_discount_pct")
    if cash.price != total - cash.discount_amount or cash.discount_amount < 0:
        found.append("cash_price")
    if cash.due_date > as_of + timedelta(days=rule.max_first_due_days) or cash.due_date < as_of:
        found.append("max_first_due_days")
    return found


def violations(offer: Offer, rule: OfferRule) -> list[str]:
    """Every limit of ``rule`` the offer breaks (empty when it is within the policy)."""
    found = ["bot_authority_limit"] if offer.balance_total > rule.bot_authority_limit else []
    found += cash_violations(offer.cash, rule, offer.balance_total, offer.as_of)
    for plan in offer.plans:
        found += plan_violations(plan, rule, offer.balance_total, offer.as_of)
    return found
