"""Intent models side by side on the same cross-validation folds: the linear classifier of
config.yml against DIET's own intent head (the same pipeline with DIET classifying intents).

    PYTHONPATH=. .venv-rasa/bin/python bench/nlu_intents.py [--folds 3] [--seed 7]

For each model and fold it trains the NLU pipeline on the other folds with Rasa's own trainer,
parses the held-out examples and a probe of keyboard mashes through the trained model (so the
FallbackClassifier of config.yml applies), and prints per model: intent macro-F1 over the
training data's intents (a fallback counts as a miss), how many held-out messages fell back, how
many mashes fell back or landed on a consequential intent (a yes, a dispute, a legal situation,
...), and the NLU parse time. Fixed folds, unlike `rasa test nlu --cross-validation`, whose
unseeded folds move its figure by about ±0.01 between runs. Takes ~25 minutes on 2 cores.

Last line: ``linear_macro_f1=… diet_macro_f1=… linear_mash_consequential=… diet_mash_consequential=…``
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
LINEAR = "rasa_components.linear_intent.LinearIntentClassifier"
# Answers that change something for the debtor: taken from gibberish, they would be a real error.
CONSEQUENTIAL = {
    "affirm", "deny", "pay_pix", "request_installments", "counter_offer", "already_paid", "dispute_debt",
    "legal_situation", "opt_out", "request_human", "complaint", "financial_hardship", "request_postponement",
}  # fmt: skip
MASHES = [
    "zzkw qqhj", "asdfghjkl", "jdjdjdjdj", "qwerty uiop", "xpto 123 abc", "fjdksla fjdks", "rrrrr",
    "blablabla", "mnbvcxz", "bkdbfks sjd", "wxyz", "ppp", "ghjghj ghj", "xkcd qwpz", "zzkw vbnj",
    "fdsfsdf", "çççç", "uhsuahsuahs", "lkjhg", "poiuy trewq", "vbnm", "hjkl hjkl", "qazwsx", "plmokn",
    "dsadsa", "tyutyu", "nbnbnb", "sdfg hjkl", "xcvb", "wqeqwe",
]  # fmt: skip


# DIET's intent head as config.yml had it before the linear classifier and the regex dates replaced
# it: its featurizers, then DIET classifying intents and tagging entities.
DIET_PIPELINE: list[dict[str, Any]] = [
    {"name": "WhitespaceTokenizer"},
    {"name": "RegexFeaturizer", "case_sensitive": False},
    {"name": "LexicalSyntacticFeaturizer"},
    {"name": "CountVectorsFeaturizer"},
    {"name": "CountVectorsFeaturizer", "analyzer": "char_wb", "min_ngram": 2, "max_ngram": 4, "max_features": 8000},
    {"name": "DIETClassifier", "epochs": 60, "transformer_size": 128, "number_of_transformer_layers": 1,
     "constrain_similarities": True, "random_seed": 42},
]  # fmt: skip


def configs() -> dict[str, dict[str, Any]]:
    linear = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
    diet = copy.deepcopy(linear)
    rest = [c for c in diet["pipeline"] if c["name"] not in (LINEAR, "WhitespaceTokenizer")]
    diet["pipeline"] = copy.deepcopy(DIET_PIPELINE) + rest
    return {"linear": linear, "diet": diet}


async def evaluate(name: str, config: dict[str, Any], folds: int, seed: int) -> dict[str, float]:
    import logging

    import rasa.model_training
    from rasa.core.agent import Agent
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLWriter
    from rasa.shared.nlu.training_data.loading import load_data
    from rasa.shared.nlu.training_data.training_data import TrainingData
    from rasa.utils.log_utils import configure_structlog
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold

    configure_structlog(logging.WARNING)  # no debug line per parsed message
    data = load_data(str(ROOT / "data" / "nlu"))
    examples = data.intent_examples
    gold = [e.get("intent") for e in examples]
    predicted: list[str] = [""] * len(examples)
    parse_ms: list[float] = []
    mash_fallbacks = mash_consequential = 0
    work = Path(tempfile.mkdtemp(prefix=f"nlu-{name}-"))
    (work / "config.yml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    for fold, (train_index, test_index) in enumerate(splitter.split(examples, gold)):
        train = TrainingData(
            training_examples=[examples[i] for i in train_index],
            entity_synonyms=data.entity_synonyms,
            regex_features=data.regex_features,
            lookup_tables=data.lookup_tables,
        )
        RasaYAMLWriter().dump(work / f"train{fold}.yml", train)
        model = rasa.model_training.train_nlu(
            str(work / "config.yml"), str(work / f"train{fold}.yml"), str(work)
        )
        agent = Agent.load(model)
        for i in test_index:
            start = time.perf_counter()
            result = await agent.parse_message(examples[i].get("text"))
            parse_ms.append((time.perf_counter() - start) * 1000)
            predicted[i] = result["intent"]["name"]
        for text in MASHES:
            intent = (await agent.parse_message(text))["intent"]["name"]
            mash_fallbacks += intent == "nlu_fallback"
            mash_consequential += intent in CONSEQUENTIAL
        print(f"[{name}] fold {fold + 1}/{folds} done", file=sys.stderr, flush=True)
    labels = sorted(set(gold))
    macro = float(f1_score(gold, predicted, labels=labels, average="macro", zero_division=0))
    return {
        "macro_f1": macro,
        "fallbacks": sum(p == "nlu_fallback" for p in predicted),
        "examples": len(examples),
        "mash_fallbacks": mash_fallbacks,
        "mash_consequential": mash_consequential,
        "mashes": len(MASHES) * folds,
        "parse_ms_p50": statistics.median(parse_ms),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    results = {
        name: asyncio.run(evaluate(name, cfg, args.folds, args.seed)) for name, cfg in configs().items()
    }
    print(
        "| intent model | macro-F1 | held-out fallbacks | mashes fallen back | mashes → consequential | parse p50 ms |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for name, r in results.items():
        print(
            f"| {name} | {r['macro_f1']:.3f} | {r['fallbacks']}/{r['examples']} | "
            f"{r['mash_fallbacks']}/{r['mashes']} | {r['mash_consequential']}/{r['mashes']} | {r['parse_ms_p50']:.1f} |"
        )
    lin, diet = results["linear"], results["diet"]
    print(
        f"linear_macro_f1={lin['macro_f1']:.3f} diet_macro_f1={diet['macro_f1']:.3f} "
        f"linear_mash_consequential={lin['mash_consequential']} diet_mash_consequential={diet['mash_consequential']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
