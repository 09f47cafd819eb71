"""A collector's authority: the limits of a manual agreement (pure).

Wider than the bot's policy, set by admins; expressed as an ``OfferRule`` so the engine's own
offer builders and limit checks apply to collectors exactly as they do to the bot.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from server.domain.policy import HUNDRED, FieldError, OfferRule


@dataclass(frozen=True)
class Authority:
    max_discount_pct: Decimal
    max_installments: int
    min_installment_amount: Decimal
    min_down_payment_pct: Decimal
    monthly_interest_pct: Decimal
    max_first_due_days: int
    limit_amount: Decimal  # debts above this total need an admin

    def as_rule(self) -> OfferRule:
        return OfferRule(
            min_days=1,
            max_days=None,
            max_cash_discount_pct=self.max_discount_pct,
            max_installments=self.max_installments,
            min_installment_amount=self.min_installment_amount,
            min_down_payment_pct=self.min_down_payment_pct,
            monthly_interest_pct=self.monthly_interest_pct,
            max_first_due_days=self.max_first_due_days,
            bot_authority_limit=self.limit_amount,
        )


def authority_errors(a: Authority) -> Iterable[FieldError]:
    if not 0 <= a.max_discount_pct < HUNDRED:
        yield FieldError("max_discount_pct", "deve estar entre 0 e 100 % (exclusive)")
    if not 1 <= a.max_installments <= 120:
        yield FieldError("max_installments", "deve estar entre 1 e 120")
    if a.min_installment_amount <= 0:
        yield FieldError("min_installment_amount", "deve ser maior que zero")
    if not 0 <= a.min_down_payment_pct < HUNDRED:
        yield FieldError("min_down_payment_pct", "deve estar entre 0 e 100 % (exclusive)")
    if not 0 <= a.monthly_interest_pct <= 20:
        yield FieldError("monthly_interest_pct", "deve estar entre 0 e 20 % a.m.")
    if not 0 <= a.max_first_due_days <= 90:
        yield FieldError("max_first_due_days", "deve estar entre 0 e 90 dias")
    if a.limit_amount <= 0:
        yield FieldError("limit_amount", "deve ser maior que zero")
