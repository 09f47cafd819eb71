"""scripts/nlu_report.py: figures read from Rasa's cross-validation output, and the quality gate."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def nlu_report() -> ModuleType:
    spec = importlib.util.spec_from_file_location("nlu_report", ROOT / "scripts" / "nlu_report.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["nlu_report"] = module  # dataclasses look the module up by name
    spec.loader.exec_module(module)
    return module


def _row(p: float, r: float, f: float, n: int) -> dict[str, float]:
    return {"precision": p, "recall": r, "f1-score": f, "support": n}


def _write_run(directory: Path, greet_f1: float) -> None:
    directory.mkdir(parents=True)
    intents = {
        "greet": _row(1.0, greet_f1, greet_f1, 10),
        "deny": _row(0.8, 1.0, 0.9, 10),
        "nlu_fallback": _row(0.0, 0.0, 0.0, 0),
        "accuracy": 0.9,
        "macro avg": _row(0.6, 0.6, 0.6, 20),
    }
    (directory / "intent_report.json").write_text(json.dumps(intents))
    errors = [
        {"text": "oii", "intent": "greet", "intent_prediction": {"name": "deny", "confidence": 0.5}},
        {"text": "ola", "intent": "greet", "intent_prediction": {"name": "deny", "confidence": 0.4}},
        {"text": "nao", "intent": "deny", "intent_prediction": {"name": "nlu_fallback", "confidence": 0.3}},
    ]
    (directory / "intent_errors.json").write_text(json.dumps(errors))
    entities = {
        "cnpj": _row(1.0, 0.5, 0.667, 4),
        "date": _row(0.0, 0.0, 0.0, 3),
        "no_entity": _row(1, 1, 1, 9),
    }
    (directory / "RegexEntityExtractor_report.json").write_text(json.dumps(entities))


def test_report_reads_intents_entities_and_confusions(nlu_report: ModuleType, tmp_path: Path) -> None:
    _write_run(tmp_path / "run", greet_f1=0.8)
    report = nlu_report.load_report(tmp_path / "run", "abc")
    assert [s.label for s in report.intents] == ["deny", "greet"]  # no zero-support fallback row
    assert report.macro_f1 == pytest.approx(0.85)
    assert report.rasa_macro_f1 == pytest.approx(0.6)
    assert report.confusions == [("greet", "deny", 2), ("deny", "nlu_fallback", 1)]
    # A regex extractor that never outputs dates is not measured on them.
    assert [s.label for s in report.entities["RegexEntityExtractor"]] == ["cnpj"]
    text = nlu_report.format_report(report)
    assert "intent macro-F1: 0.850" in text
    assert "2  greet → deny" in text


@pytest.mark.parametrize(("greet_f1", "status"), [(0.8, 1), (0.95, 0)])
def test_gate_fails_below_the_threshold(
    nlu_report: ModuleType, tmp_path: Path, greet_f1: float, status: int
) -> None:
    # A cached run for this project's inputs: the gate reads it instead of cross-validating.
    cache = tmp_path / "cache"
    _write_run(cache / nlu_report.fingerprint(ROOT), greet_f1)
    assert nlu_report.main(["--min-macro-f1", "0.88"], cache_root=cache) == status


def _project(tmp_path: Path, policies: str, epochs: int) -> Path:
    root = tmp_path / "project"
    (root / "data" / "nlu").mkdir(parents=True, exist_ok=True)
    (root / "config.yml").write_text(
        f"language: pt\npipeline:\n  - name: DIETClassifier\n    epochs: {epochs}\npolicies:\n{policies}"
    )
    (root / "data" / "nlu" / "greet.yml").write_text("nlu: []\n")
    return root


def test_fingerprint_follows_the_pipeline_and_data_not_the_policies(
    nlu_report: ModuleType, tmp_path: Path
) -> None:
    base = nlu_report.fingerprint(_project(tmp_path, "  - name: RulePolicy\n", 60))
    other_policies = nlu_report.fingerprint(_project(tmp_path, "  - name: MemoizationPolicy\n", 60))
    assert other_policies == base
    assert nlu_report.fingerprint(_project(tmp_path, "  - name: RulePolicy\n", 61)) != base
    root = _project(tmp_path, "  - name: RulePolicy\n", 60)
    (root / "data" / "nlu" / "greet.yml").write_text("nlu:\n- intent: greet\n  examples: |\n    - oi\n")
    assert nlu_report.fingerprint(root) != base
