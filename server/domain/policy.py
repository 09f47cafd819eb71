"""Offer policy: what the bot may offer, by days-overdue bucket, segment and amount range.

A policy is a set of rules plus a concession ladder. The base rules (no segment, no amount range)
must cover every day overdue from 1 with no gap and no overlap; narrower rules override them for
the debtors they match. The ladder says how far the bot goes at each step: step k offers
``discount_fraction`` of the maximum discount and ``installments_fraction`` of the maximum number
of installments; the last step must reach the limits (fractions 1).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

HUNDRED = Decimal(100)


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


class InvalidPolicy(ValueError):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class LadderStep:
    discount_fraction: Decimal
    installments_fraction: Decimal


@dataclass(frozen=True)
class OfferRule:
    min_days: int
    max_days: int | None  # None: open-ended bucket ("181+")
    max_cash_discount_pct: Decimal
    max_installments: int
    min_installment_amount: Decimal
    min_down_payment_pct: Decimal
    monthly_interest_pct: Decimal
    max_first_due_days: int
    bot_authority_limit: Decimal
    segment: str | None = None
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None

    @property
    def is_base(self) -> bool:
        return self.segment is None and self.min_amount is None and self.max_amount is None

    def covers_days(self, days: int) -> bool:
        return days >= self.min_days and (self.max_days is None or days <= self.max_days)

    def matches(self, days: int, segment: str | None, amount: Decimal) -> bool:
        if not self.covers_days(days):
            return False
        if self.segment is not None and (segment or "").strip().lower() != self.segment.strip().lower():
            return False
        if self.min_amount is not None and amount < self.min_amount:
            return False
        return not (self.max_amount is not None and amount > self.max_amount)

    @property
    def specificity(self) -> int:
        return (2 if self.segment is not None else 0) + (
            1 if (self.min_amount is not None or self.max_amount is not None) else 0
        )


@dataclass(frozen=True)
class OfferPolicy:
    rules: tuple[OfferRule, ...]
    ladder: tuple[LadderStep, ...]
    notes: str = field(default="", compare=False)

    def rule_for(self, days: int, segment: str | None, amount: Decimal) -> OfferRule | None:
        """The most specific rule matching a debt (oldest invoice's days overdue, total amount)."""
        matching = [r for r in self.rules if r.matches(days, segment, amount)]
        if not matching:
            return None
        return max(matching, key=lambda r: r.specificity)


# --- validation -------------------------------------------------------------------------------

_PCT_FIELDS = ("max_cash_discount_pct", "min_down_payment_pct", "monthly_interest_pct")


def _check_rule(i: int, r: OfferRule) -> Iterable[FieldError]:
    p = f"rules[{i}]"
    if r.min_days < 1:
        yield FieldError(f"{p}.min_days", "deve ser pelo menos 1 (dívidas vencidas)")
    if r.max_days is not None and r.max_days < r.min_days:
        yield FieldError(f"{p}.max_days", "deve ser maior ou igual a min_days")
    for name in _PCT_FIELDS:
        value: Decimal = getattr(r, name)
        if value < 0:
            yield FieldError(f"{p}.{name}", "não pode ser negativo")
        elif value > HUNDRED:
            yield FieldError(f"{p}.{name}", "não pode passar de 100 %")
    if r.max_cash_discount_pct >= HUNDRED:
        yield FieldError(f"{p}.max_cash_discount_pct", "desconto deve ser menor que 100 %")
    if r.monthly_interest_pct > Decimal(20):
        yield FieldError(f"{p}.monthly_interest_pct", "juros acima de 20 % a.m. não são aceitos")
    if r.max_installments < 1:
        yield FieldError(f"{p}.max_installments", "deve ser pelo menos 1")
    elif r.max_installments > 120:
        yield FieldError(f"{p}.max_installments", "no máximo 120 parcelas")
    if r.min_installment_amount <= 0:
        yield FieldError(f"{p}.min_installment_amount", "deve ser maior que zero")
    if not 0 <= r.max_first_due_days <= 90:
        yield FieldError(f"{p}.max_first_due_days", "deve estar entre 0 e 90 dias")
    if r.bot_authority_limit < 0:
        yield FieldError(f"{p}.bot_authority_limit", "não pode ser negativo")
    if r.min_amount is not None and r.min_amount < 0:
        yield FieldError(f"{p}.min_amount", "não pode ser negativo")
    if r.min_amount is not None and r.max_amount is not None and r.max_amount < r.min_amount:
        yield FieldError(f"{p}.max_amount", "deve ser maior ou igual a min_amount")
    if r.segment is not None and not r.segment.strip():
        yield FieldError(f"{p}.segment", "não pode ser vazio (omita para valer para todos)")
    for name in (*_PCT_FIELDS, "min_installment_amount", "bot_authority_limit", "min_amount", "max_amount"):
        value = getattr(r, name)
        if value is not None and value != value.quantize(Decimal("0.01")):
            yield FieldError(f"{p}.{name}", "no máximo duas casas decimais")


def _overlaps(a: OfferRule, b: OfferRule) -> bool:
    a_end = a.max_days if a.max_days is not None else 10**9
    b_end = b.max_days if b.max_days is not None else 10**9
    return a.min_days <= b_end and b.min_days <= a_end


def _same_scope(a: OfferRule, b: OfferRule) -> bool:
    def amounts_overlap() -> bool:
        lo_a, hi_a = a.min_amount or Decimal(0), a.max_amount or Decimal("1e18")
        lo_b, hi_b = b.min_amount or Decimal(0), b.max_amount or Decimal("1e18")
        return lo_a <= hi_b and lo_b <= hi_a

    seg_a = (a.segment or "").strip().lower() or None
    seg_b = (b.segment or "").strip().lower() or None
    return seg_a == seg_b and a.specificity == b.specificity and amounts_overlap()


def _check_buckets(rules: tuple[OfferRule, ...]) -> Iterable[FieldError]:
    base = sorted((r for r in rules if r.is_base), key=lambda r: r.min_days)
    if not base:
        yield FieldError("rules", "é preciso ao menos uma regra geral (sem segmento nem faixa de valor)")
        return
    expected = 1
    for r in base:
        i = rules.index(r)
        if r.min_days > expected:
            yield FieldError(f"rules[{i}].min_days", f"faixa faltando: dias {expected} a {r.min_days - 1}")
        elif r.min_days < expected:
            yield FieldError(f"rules[{i}].min_days", f"faixa sobreposta: dia {r.min_days} já coberto")
        if r.max_days is None:
            expected = 10**9
            break
        expected = max(expected, r.max_days + 1)
    if base[-1].max_days is not None:
        yield FieldError(
            f"rules[{rules.index(base[-1])}].max_days",
            f"a última faixa geral deve ser aberta (de {expected} em diante)",
        )
    for i, a in enumerate(rules):
        for j in range(i + 1, len(rules)):
            b = rules[j]
            if not (a.is_base and b.is_base) and _same_scope(a, b) and _overlaps(a, b):
                yield FieldError(f"rules[{j}]", f"sobrepõe a regra {i} (mesmo segmento, valor e dias)")


def _check_ladder(ladder: tuple[LadderStep, ...]) -> Iterable[FieldError]:
    if not ladder:
        yield FieldError("ladder", "a escada de concessões precisa de ao menos um degrau")
        return
    for i, step in enumerate(ladder):
        for name in ("discount_fraction", "installments_fraction"):
            value: Decimal = getattr(step, name)
            if not Decimal(0) <= value <= Decimal(1):
                yield FieldError(f"ladder[{i}].{name}", "deve estar entre 0 e 1")
        if i and (
            step.discount_fraction < ladder[i - 1].discount_fraction
            or step.installments_fraction < ladder[i - 1].installments_fraction
        ):
            yield FieldError(f"ladder[{i}]", "cada degrau deve conceder pelo menos o mesmo que o anterior")
    last = ladder[-1]
    if last.discount_fraction != 1 or last.installments_fraction != 1:
        yield FieldError(f"ladder[{len(ladder) - 1}]", "o último degrau deve chegar aos limites (frações 1)")


def validate_policy(policy: OfferPolicy) -> list[FieldError]:
    errors: list[FieldError] = []
    for i, rule in enumerate(policy.rules):
        errors.extend(_check_rule(i, rule))
    errors.extend(_check_buckets(policy.rules))
    errors.extend(_check_ladder(policy.ladder))
    return errors


# --- (de)serialisation: the stored and API form ----------------------------------------------

_RULE_DECIMALS = (
    "max_cash_discount_pct", "min_installment_amount", "min_down_payment_pct", "monthly_interest_pct",
    "bot_authority_limit", "min_amount", "max_amount",
)  # fmt: skip


def policy_to_dict(policy: OfferPolicy) -> dict[str, Any]:
    def rule(r: OfferRule) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in OfferRule.__dataclass_fields__:
            value = getattr(r, name)
            out[name] = str(value) if isinstance(value, Decimal) else value
        return out

    return {
        "rules": [rule(r) for r in policy.rules],
        "ladder": [
            {
                "discount_fraction": str(s.discount_fraction),
                "installments_fraction": str(s.installments_fraction),
            }
            for s in policy.ladder
        ],
        "notes": policy.notes,
    }


def policy_from_dict(data: dict[str, Any]) -> OfferPolicy:
    """Build a policy from its stored form (already validated by the API schema)."""

    def dec(value: Any) -> Decimal | None:
        return None if value is None else Decimal(str(value))

    rules = []
    for raw in data["rules"]:
        kwargs = dict(raw)
        for name in _RULE_DECIMALS:
            kwargs[name] = dec(kwargs.get(name))
        rules.append(OfferRule(**kwargs))
    ladder = tuple(
        LadderStep(Decimal(str(s["discount_fraction"])), Decimal(str(s["installments_fraction"])))
        for s in data["ladder"]
    )
    return OfferPolicy(tuple(rules), ladder, data.get("notes", ""))


# --- the documented default --------------------------------------------------------------------


def _rule(min_days: int, max_days: int | None, discount: str, installments: int, interest: str) -> OfferRule:
    return OfferRule(
        min_days=min_days,
        max_days=max_days,
        max_cash_discount_pct=Decimal(discount),
        max_installments=installments,
        min_installment_amount=Decimal("150.00"),
        min_down_payment_pct=Decimal("10"),
        monthly_interest_pct=Decimal(interest),
        max_first_due_days=7,
        bot_authority_limit=Decimal("100000.00"),
    )


DEFAULT_POLICY = OfferPolicy(
    rules=(
        # Recent debts are usually paid once reminded: little discount, few installments.
        _rule(1, 30, "5", 3, "1.5"),
        _rule(31, 90, "10", 6, "1.5"),
        _rule(91, 180, "20", 10, "1"),
        # Old debts are worth recovering at a larger concession.
        _rule(181, None, "35", 12, "1"),
    ),
    ladder=(
        LadderStep(Decimal("0.5"), Decimal("0.5")),
        LadderStep(Decimal("0.75"), Decimal("0.75")),
        LadderStep(Decimal("1"), Decimal("1")),
    ),
    notes="Política padrão de demonstração: 4 faixas de atraso, escada de 3 degraus (50 %, 75 %, 100 % dos limites).",
)
