"""NLU quality from Rasa cross-validation: per-intent and per-entity P/R/F1, macro-F1, confusions.

`make nlu-report` runs this under .venv. It calls `.venv-rasa/bin/rasa test nlu --cross-validation`
(minutes on two cores) and reads what Rasa 3.6 writes to the output directory:

- ``intent_report.json``: per-label precision/recall/f1-score/support (sklearn's report), plus
  Rasa's own ``confused_with`` (only the top two per intent, so not used here);
- ``intent_errors.json``: every misclassified example, ``{"text", "intent", "intent_prediction":
  {"name", "confidence"}}``; the confused pairs are counted from it;
- ``<Extractor>_report.json`` (``RegexEntityExtractor_report.json``; ``DIETClassifier_report.json`` with DIET):
  per-entity figures for each extractor.

The result is cached under ``~/.cache/negocia/nlu-report/<sha256>/``, keyed by config.yml's pipeline
and data/nlu/*.yml, so a second run with the same inputs is instant. A run writes to a scratch
directory that is renamed into place only when complete: an interrupted run caches nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
FOLDS = 3
CACHE_ROOT = Path.home() / ".cache" / "negocia" / "nlu-report"
# Labels in sklearn's report that are aggregates, not intents or entities.
_AGGREGATES = {"accuracy", "macro avg", "micro avg", "weighted avg"}
# Predicted when the classifier's confidence is too low; not an intent of the training data.
_FALLBACK = "nlu_fallback"


@dataclass(frozen=True)
class Score:
    label: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class NluReport:
    fingerprint: str
    directory: Path
    intents: list[Score]
    # extractor name -> per-entity scores
    entities: dict[str, list[Score]]
    # (true intent, predicted intent, count), most frequent first
    confusions: list[tuple[str, str, int]]

    @property
    def macro_f1(self) -> float:
        """Unweighted mean F1 over the intents of the training data.

        Rasa's own "macro avg" also averages a zero row for ``nlu_fallback`` whenever the
        FallbackClassifier fires, which counts each such miss twice; it is shown alongside.
        """
        return sum(s.f1 for s in self.intents) / len(self.intents) if self.intents else 0.0

    @property
    def rasa_macro_f1(self) -> float:
        report = _read_json(self.directory / "intent_report.json")
        return float(report["macro avg"]["f1-score"])

    @property
    def accuracy(self) -> float:
        report = _read_json(self.directory / "intent_report.json")
        return float(report.get("accuracy", report.get("micro avg", {}).get("f1-score", 0.0)))


def nlu_inputs(root: Path = ROOT) -> list[Path]:
    return [
        root / "config.yml",
        *sorted((root / "data" / "nlu").glob("*.yml")),
        *sorted((root / "rasa_components").glob("*.py")),  # custom components' code
    ]


# The parts of config.yml that NLU cross-validation uses: tuning the dialogue policies must not
# throw away a 20-minute report.
_NLU_CONFIG_KEYS = ("recipe", "language", "pipeline")


def _nlu_config(path: Path) -> bytes:
    config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return json.dumps({k: config.get(k) for k in _NLU_CONFIG_KEYS}, sort_keys=True).encode()


def fingerprint(root: Path = ROOT) -> str:
    """SHA-256 of the inputs that decide the result: config.yml's pipeline (not its policies) and
    data/nlu/*.yml, rasa_components/*.py (and the folds)."""
    digest = hashlib.sha256(f"folds={FOLDS}\n".encode())
    for path in nlu_inputs(root):
        # The name counts too: moving examples between files must not look unchanged.
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        content = _nlu_config(path) if path.name == "config.yml" else path.read_bytes()
        digest.update(content + b"\0")
    return digest.hexdigest()


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _scores(report: dict[str, Any], skip: set[str]) -> list[Score]:
    scores = [
        Score(
            label,
            float(row["precision"]),
            float(row["recall"]),
            float(row["f1-score"]),
            int(row["support"]),
        )
        for label, row in report.items()
        if label not in _AGGREGATES and label not in skip and isinstance(row, dict)
    ]
    return sorted(scores, key=lambda s: s.label)


def _confusions(errors_path: Path) -> list[tuple[str, str, int]]:
    if not errors_path.exists():  # Rasa writes no errors file when nothing was wrong
        return []
    pairs = Counter((str(e["intent"]), str(e["intent_prediction"]["name"])) for e in _read_json(errors_path))
    return [(t, p, n) for (t, p), n in sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))]


def load_report(directory: Path, digest: str = "") -> NluReport:
    intents = [s for s in _scores(_read_json(directory / "intent_report.json"), {_FALLBACK}) if s.support > 0]
    entities: dict[str, list[Score]] = {}
    for path in sorted(directory.glob("*_report.json")):
        if path.name in {"intent_report.json", "response_selection_report.json"}:
            continue
        extractor = path.name.removesuffix("_report.json")
        produced = _produced_entities(directory / f"{extractor}_errors.json", extractor)
        # sklearn lists every gold label for every extractor: a row of zeros for an entity the
        # component never outputs (RegexEntityExtractor has no regex for dates) is no measurement.
        entities[extractor] = [
            s
            for s in _scores(_read_json(path), {"no_entity"})
            if s.precision > 0 or s.recall > 0 or s.label in produced
        ]
    return NluReport(digest, directory, intents, entities, _confusions(directory / "intent_errors.json"))


def _produced_entities(errors_path: Path, extractor: str) -> set[str]:
    """Entities the extractor output at least once among its errors (all-wrong ones land here)."""
    if not errors_path.exists():
        return set()
    return {
        str(p["entity"])
        for e in _read_json(errors_path)
        for p in e.get("predicted_entities", [])
        if p.get("extractor") == extractor
    }


def run_cross_validation(out: Path, root: Path = ROOT) -> None:
    """Rasa's cross-validation into ``out``; its log goes to ``out/rasa.log``."""
    out.mkdir(parents=True, exist_ok=True)
    command = [
        str(root / ".venv-rasa" / "bin" / "rasa"),
        "test",
        "nlu",
        "--nlu",
        "data/nlu",
        "--config",
        "config.yml",
        "--cross-validation",
        "--folds",
        str(FOLDS),
        "--out",
        str(out),
        "--no-plot",  # the PNG confusion matrix costs time and nothing here reads it
    ]
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false"}
    with (out / "rasa.log").open("w", encoding="utf-8") as log:
        result = subprocess.run(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0 or not (out / "intent_report.json").exists():
        tail = (out / "rasa.log").read_text(encoding="utf-8", errors="replace")[-3000:]
        raise RuntimeError(f"rasa test nlu failed (exit {result.returncode}):\n{tail}")


def get_report(root: Path = ROOT, *, force: bool = False, cache_root: Path = CACHE_ROOT) -> NluReport:
    """The cross-validation report for the current inputs, computed only when not cached."""
    digest = fingerprint(root)
    final = cache_root / digest
    if force and final.exists():
        shutil.rmtree(final)
    if not (final / "intent_report.json").exists():
        cache_root.mkdir(parents=True, exist_ok=True)
        print(f"[nlu-report] cross-validating ({FOLDS} folds, takes minutes)…", file=sys.stderr, flush=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".{digest[:12]}-", dir=cache_root))
        try:
            run_cross_validation(scratch, root)
            try:
                scratch.rename(final)
            except OSError:  # another run finished first: its result is as good as ours
                if not (final / "intent_report.json").exists():
                    raise
        finally:
            if scratch.exists():
                shutil.rmtree(scratch, ignore_errors=True)
    return load_report(final, digest)


def _table(title: str, scores: list[Score]) -> list[str]:
    width = max([len(title), *(len(s.label) for s in scores)])
    lines = [f"{title:<{width}}  precision  recall     f1  support"]
    lines += [
        f"{s.label:<{width}}  {s.precision:9.3f}  {s.recall:6.3f}  {s.f1:5.3f}  {s.support:7d}"
        for s in scores
    ]
    return lines


def format_report(report: NluReport, top: int = 10) -> str:
    lines = [
        f"NLU cross-validation ({FOLDS} folds) — inputs {report.fingerprint[:12]}, files in {report.directory}",
        "",
    ]
    lines += _table("intent", report.intents)
    lines += [
        "",
        f"intent macro-F1: {report.macro_f1:.3f}   (Rasa's macro avg incl. {_FALLBACK}: "
        f"{report.rasa_macro_f1:.3f}; accuracy {report.accuracy:.3f})",
        f"weakest intents: {', '.join(f'{s.label} {s.f1:.3f}' for s in sorted(report.intents, key=lambda s: s.f1)[:3])}",
    ]
    for extractor, scores in report.entities.items():
        lines += ["", *_table(f"entity ({extractor})", scores)]
    lines += ["", f"most confused intent pairs (true → predicted), top {top}:"]
    if not report.confusions:
        lines.append("  none")
    width = max((len(t) for t, _, _ in report.confusions[:top]), default=0)
    lines += [f"  {n:4d}  {t:<{width}} → {p}" for t, p, n in report.confusions[:top]]
    return "\n".join(lines)


def main(argv: list[str] | None = None, cache_root: Path = CACHE_ROOT) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--force", action="store_true", help="recompute even when cached")
    parser.add_argument(
        "--min-macro-f1", type=float, default=None, help="exit 1 when the intent macro-F1 is below this"
    )
    args = parser.parse_args(argv)
    report = get_report(force=args.force, cache_root=cache_root)
    print(format_report(report))
    if args.min_macro_f1 is not None and report.macro_f1 < args.min_macro_f1:
        print(
            f"[nlu-report] intent macro-F1 {report.macro_f1:.3f} is below the required {args.min_macro_f1:.2f}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
