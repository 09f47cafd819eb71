from dataclasses import replace
from decimal import Decimal

from server.domain.policy import (
    DEFAULT_POLICY,
    LadderStep,
    OfferPolicy,
    policy_from_dict,
    policy_to_dict,
    validate_policy,
)

BASE = DEFAULT_POLICY.rules


def fields(policy: OfferPolicy) -> dict[str, str]:
    return {e.field: e.message for e in validate_policy(policy)}


def test_default_policy_is_valid_and_round_trips() -> None:
    assert validate_policy(DEFAULT_POLICY) == []
    assert policy_from_dict(policy_to_dict(DEFAULT_POLICY)) == DEFAULT_POLICY


def test_nonsense_values_are_named_field_by_field() -> None:
    bad = replace(
        BASE[0], max_cash_discount_pct=Decimal("120"), min_down_payment_pct=Decimal("-1"), max_installments=0,
        min_installment_amount=Decimal("0"), max_first_due_days=200, monthly_interest_pct=Decimal("1.234"),
    )  # fmt: skip
    errors = fields(replace(DEFAULT_POLICY, rules=(bad, *BASE[1:])))
    assert "100 %" in errors["rules[0].max_cash_discount_pct"]
    assert "negativo" in errors["rules[0].min_down_payment_pct"]
    assert errors["rules[0].max_installments"] == "deve ser pelo menos 1"
    assert "maior que zero" in errors["rules[0].min_installment_amount"]
    assert "0 e 90" in errors["rules[0].max_first_due_days"]
    assert "duas casas" in errors["rules[0].monthly_interest_pct"]


def test_missing_bucket() -> None:
    errors = fields(replace(DEFAULT_POLICY, rules=(BASE[0], BASE[2], BASE[3])))
    assert errors["rules[1].min_days"] == "faixa faltando: dias 31 a 90"


def test_overlapping_bucket() -> None:
    errors = fields(replace(DEFAULT_POLICY, rules=(BASE[0], replace(BASE[1], min_days=25), *BASE[2:])))
    assert "sobreposta" in errors["rules[1].min_days"]


def test_last_bucket_must_be_open_ended() -> None:
    errors = fields(replace(DEFAULT_POLICY, rules=(*BASE[:3], replace(BASE[3], max_days=365))))
    assert "aberta" in errors["rules[3].max_days"]


def test_no_base_rule() -> None:
    only_segment = tuple(replace(r, segment="varejo") for r in BASE)
    assert "regra geral" in fields(replace(DEFAULT_POLICY, rules=only_segment))["rules"]


def test_narrowed_rules_override_base_and_must_not_clash() -> None:
    retail = replace(BASE[3], segment="Varejo", max_cash_discount_pct=Decimal("40"))
    big = replace(BASE[3], min_amount=Decimal("50000"), max_cash_discount_pct=Decimal("25"))
    policy = replace(DEFAULT_POLICY, rules=(*BASE, retail, big))
    assert validate_policy(policy) == []
    assert policy.rule_for(200, "varejo", Decimal("1000")) == retail
    assert policy.rule_for(200, "saúde", Decimal("60000")) == big
    assert policy.rule_for(200, None, Decimal("1000")) == BASE[3]
    assert policy.rule_for(0, None, Decimal("1000")) is None
    clash = replace(DEFAULT_POLICY, rules=(*BASE, retail, replace(retail, min_days=300)))
    assert "sobrepõe" in fields(clash)["rules[5]"]


def test_ladder_rules() -> None:
    decreasing = (LadderStep(Decimal("0.8"), Decimal("0.5")), LadderStep(Decimal("0.5"), Decimal("1")),
                  LadderStep(Decimal(1), Decimal(1)))  # fmt: skip
    assert "pelo menos o mesmo" in fields(replace(DEFAULT_POLICY, ladder=decreasing))["ladder[1]"]
    short = (LadderStep(Decimal("0.5"), Decimal("0.5")),)
    assert "limites" in fields(replace(DEFAULT_POLICY, ladder=short))["ladder[0]"]
    assert "ao menos um" in fields(replace(DEFAULT_POLICY, ladder=()))["ladder"]
    out_of_range = (LadderStep(Decimal("1.5"), Decimal(1)),)
    assert (
        "entre 0 e 1" in fields(replace(DEFAULT_POLICY, ladder=out_of_range))["ladder[0].discount_fraction"]
    )
