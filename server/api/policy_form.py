"""The admin policy editor's form: a table of rules (one row per bucket, one column per
parameter) and the concession ladder, parsed into an ``OfferPolicy`` with every error tied to
its cell (``r{row}.{param}``) so the page can show the message next to the value."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from server.domain.policy import LadderStep, OfferPolicy, OfferRule, policy_to_dict, validate_policy

RULE_PARAMS: tuple[tuple[str, str, str], ...] = (
    # name, label, kind ("int", "dec", "opt_int", "opt_dec", "text")
    ("min_days", "Dias de", "int"),
    ("max_days", "Dias até", "opt_int"),
    ("segment", "Segmento", "text"),
    ("min_amount", "Valor mín. (R$)", "opt_dec"),
    ("max_amount", "Valor máx. (R$)", "opt_dec"),
    ("max_cash_discount_pct", "Desconto à vista máx. (%)", "dec"),
    ("max_installments", "Parcelas máx.", "int"),
    ("min_installment_amount", "Parcela mín. (R$)", "dec"),
    ("min_down_payment_pct", "Entrada mín. (%)", "dec"),
    ("monthly_interest_pct", "Juros a.m. (%)", "dec"),
    ("max_first_due_days", "1º vencimento em até (dias)", "int"),
    ("bot_authority_limit", "Alçada do robô (R$)", "dec"),
)
STEP_PARAMS = (("discount_fraction", "Fração do desconto"), ("installments_fraction", "Fração das parcelas"))
LIMIT = Decimal("1e12")


@dataclass
class PolicyForm:
    rules: list[dict[str, str]]
    ladder: list[dict[str, str]]
    notes: str
    errors: dict[str, str] = field(default_factory=dict)  # "r0.min_days", "l1", "rules", ...
    policy: OfferPolicy | None = None

    @property
    def general_errors(self) -> list[str]:
        return [m for k, m in self.errors.items() if "." not in k and not re.fullmatch(r"[rl]\d+", k)]

    def row_error(self, prefix: str) -> str | None:
        return self.errors.get(prefix)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def form_from_policy(data: Mapping[str, Any]) -> PolicyForm:
    """The editor pre-filled with a stored policy (plus one blank row to add a bucket)."""
    rules = [{name: _text(r.get(name)) for name, _, _ in RULE_PARAMS} for r in data["rules"]]
    ladder = [{name: _text(s.get(name)) for name, _ in STEP_PARAMS} for s in data["ladder"]]
    rules.append({name: "" for name, _, _ in RULE_PARAMS})
    ladder.append({name: "" for name, _ in STEP_PARAMS})
    return PolicyForm(rules, ladder, _text(data.get("notes")))


def _number(raw: str, kind: str) -> tuple[Any, str | None]:
    value = raw.strip().replace(" ", "")
    if not value:
        return None, None if kind.startswith("opt") else "obrigatório"
    if "," in value:  # Brazilian writing: 1.234,56
        value = value.replace(".", "").replace(",", ".")
    if kind.endswith("int"):
        return (int(value), None) if value.lstrip("-").isdigit() else (None, "número inteiro")
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None, "número inválido"
    if not number.is_finite() or abs(number) >= LIMIT:
        return None, "número inválido"
    return number, None


def parse_policy_form(form: Mapping[str, str]) -> PolicyForm:
    """Rows left blank or marked for deletion are dropped; domain errors are mapped back from
    the policy's rule index to the form row they came from."""
    rows, steps = int(form.get("rows", "0") or 0), int(form.get("steps", "0") or 0)
    rows, steps = min(rows, 100), min(steps, 10)
    raw_rules = [{name: form.get(f"r{i}.{name}", "") for name, _, _ in RULE_PARAMS} for i in range(rows)]
    raw_ladder = [{name: form.get(f"l{j}.{name}", "") for name, _ in STEP_PARAMS} for j in range(steps)]
    result = PolicyForm(raw_rules, raw_ladder, form.get("notes", "")[:2000])
    rules: list[OfferRule] = []
    rule_rows: list[int] = []
    for i, raw in enumerate(raw_rules):
        if form.get(f"r{i}.delete") or not any(v.strip() for v in raw.values()):
            continue
        values: dict[str, Any] = {}
        for name, _, kind in RULE_PARAMS:
            if kind == "text":
                values[name] = raw[name].strip() or None
                continue
            values[name], error = _number(raw[name], kind)
            if error:
                result.errors[f"r{i}.{name}"] = error
        if not any(k.startswith(f"r{i}.") for k in result.errors):
            rules.append(OfferRule(**values))
            rule_rows.append(i)
    ladder: list[LadderStep] = []
    step_rows: list[int] = []
    for j, raw in enumerate(raw_ladder):
        if form.get(f"l{j}.delete") or not any(v.strip() for v in raw.values()):
            continue
        parsed = {}
        for name, _ in STEP_PARAMS:
            parsed[name], error = _number(raw[name], "dec")
            if error:
                result.errors[f"l{j}.{name}"] = error
        if not any(k.startswith(f"l{j}.") for k in result.errors):
            ladder.append(LadderStep(parsed["discount_fraction"], parsed["installments_fraction"]))
            step_rows.append(j)
    if result.errors:
        return result
    policy = OfferPolicy(tuple(rules), tuple(ladder), result.notes)
    for e in validate_policy(policy):
        result.errors.setdefault(_cell(e.field, rule_rows, step_rows), e.message)
    if not result.errors:
        result.policy = policy
    return result


def _cell(path: str, rule_rows: list[int], step_rows: list[int]) -> str:
    """``rules[2].max_days`` → ``r{row}.max_days``; ``ladder[1]`` → ``l{row}``."""
    for kind, prefix, rows in (("rules[", "r", rule_rows), ("ladder[", "l", step_rows)):
        if path.startswith(kind):
            index, _, rest = path[len(kind) :].partition("]")
            row = rows[int(index)] if int(index) < len(rows) else int(index)
            return f"{prefix}{row}{rest}"
    return path


def stored(policy: OfferPolicy) -> dict[str, Any]:
    return policy_to_dict(policy)
