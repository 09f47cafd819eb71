"""NLU quality gate (issue 4): cross-validated intent macro-F1 >= 0.90 and no intent below 0.75.

Uses the same function as `make nlu-report`, so a cached report (keyed by config.yml and
data/nlu/*.yml) makes this instant; otherwise Rasa cross-validates, which takes minutes.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
MIN_MACRO_F1 = 0.90
MIN_INTENT_F1 = 0.75
# The NLU contract of issue 4: every one of these must be recognised.
REQUIRED_INTENTS = {
    "greet", "goodbye", "affirm", "deny", "thank", "inform_cnpj", "ask_debts", "ask_payment_options",
    "request_installments", "pay_pix", "counter_offer", "already_paid", "dispute_debt", "request_human",
    "financial_hardship", "request_postponement", "ask_second_copy", "opt_out", "bot_challenge",
    "legal_situation", "complaint", "out_of_scope",
}  # fmt: skip
REQUIRED_ENTITIES = {"cnpj", "amount", "installments", "date"}

pytestmark = pytest.mark.e2e


def _nlu_report_module() -> ModuleType:
    # scripts/ is not a package; load the script itself so the test and `make nlu-report` agree.
    spec = importlib.util.spec_from_file_location("nlu_report", ROOT / "scripts" / "nlu_report.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def report():  # type: ignore[no-untyped-def]
    if not (ROOT / ".venv-rasa" / "bin" / "rasa").exists():
        pytest.skip(".venv-rasa is missing: run `make setup`")
    module = _nlu_report_module()
    result = module.get_report(ROOT)
    print("\n" + module.format_report(result))
    return result


def test_every_contract_intent_is_evaluated(report) -> None:  # type: ignore[no-untyped-def]
    assert {s.label for s in report.intents} >= REQUIRED_INTENTS


def test_intent_macro_f1(report) -> None:  # type: ignore[no-untyped-def]
    print(f"intent macro-F1 = {report.macro_f1:.3f} (minimum {MIN_MACRO_F1})")
    assert report.macro_f1 >= MIN_MACRO_F1


def test_every_intent_f1(report) -> None:  # type: ignore[no-untyped-def]
    weak = {s.label: round(s.f1, 3) for s in report.intents if s.f1 < MIN_INTENT_F1}
    for s in sorted(report.intents, key=lambda s: s.f1)[:5]:
        print(f"{s.label}: P={s.precision:.3f} R={s.recall:.3f} F1={s.f1:.3f}")
    assert not weak, f"intents below F1 {MIN_INTENT_F1}: {weak}"


def test_entities_are_evaluated(report) -> None:  # type: ignore[no-untyped-def]
    labels = {s.label for scores in report.entities.values() for s in scores}
    for extractor, scores in report.entities.items():
        print(extractor, {s.label: round(s.f1, 3) for s in scores})
    assert labels >= REQUIRED_ENTITIES
