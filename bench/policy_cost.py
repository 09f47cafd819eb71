"""What each NLU component and each policy of the trained model costs per turn.

Runs in the Rasa environment, in process, on the cached model (`make train`):

    .venv-rasa/bin/python bench/policy_cost.py [--model PATH] [--repeat 3]

Core: every action prediction of the conversation test stories (tests/conversations), replayed
from the stories' own events, so no action server is needed; NLU: every user message of those
stories. The time of each graph node (one per component and per policy) is summed with a wrapper
around Rasa's ``GraphNode.__call__`` and divided by the number of predictions or parses. Ends with
one line ``policies_ms_per_prediction=<n> nlu_ms_per_message=<n> <node>_ms=<n> ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
STORIES = ROOT / "tests" / "conversations"

_node_time: dict[str, float] = defaultdict(float)
_node_calls: dict[str, int] = defaultdict(int)


def _instrument_graph() -> None:
    from rasa.engine.graph import GraphNode

    original = GraphNode.__call__

    def timed(self: GraphNode, *inputs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(self, *inputs)
        finally:
            _node_time[self._node_name] += time.perf_counter() - start
            _node_calls[self._node_name] += 1

    GraphNode.__call__ = timed  # type: ignore[method-assign]


def _default_model() -> Path:
    cache = Path.home() / ".cache" / "negocia" / "models"
    models = sorted(cache.glob("negocia-*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not models:
        sys.exit("no trained model in ~/.cache/negocia/models: run `make train` first")
    return models[-1]


def _test_trackers(agent: Any) -> list[Any]:
    from rasa.core.test import _create_data_generator

    generator = _create_data_generator(str(STORIES), agent, use_conversation_test_files=True)
    return list(generator.generate_story_trackers())


def _prefixes(tracker: Any, domain: Any) -> list[Any]:
    """A tracker for each point where the policies had to predict the next action."""
    from rasa.shared.core.events import ActionExecuted
    from rasa.shared.core.trackers import DialogueStateTracker

    events = list(tracker.events)
    prefixes = []
    for i, event in enumerate(events):
        if isinstance(event, ActionExecuted) and event.action_name != "action_listen" and i > 0:
            prefixes.append(DialogueStateTracker.from_events(tracker.sender_id, events[:i], domain.slots))
    return prefixes


def _user_texts(trackers: list[Any]) -> list[str]:
    from rasa.shared.core.events import UserUttered

    texts = []
    for tracker in trackers:
        for event in tracker.events:
            if isinstance(event, UserUttered) and event.text and not event.text.startswith("/"):
                texts.append(event.text)
    return texts


async def _measure(model: Path, repeat: int) -> None:
    import logging

    from rasa.core.agent import load_agent
    from rasa.utils.common import configure_logging_and_warnings
    from rasa.utils.log_utils import configure_structlog

    configure_logging_and_warnings(logging.WARNING)
    configure_structlog(logging.WARNING)

    agent = await load_agent(model_path=str(model))
    processor = agent.processor
    assert processor is not None
    trackers = _test_trackers(agent)
    prefixes = [p for t in trackers for p in _prefixes(t, agent.domain)]
    texts = _user_texts(trackers)
    print(
        f"model {model.name}: {len(trackers)} test stories, {len(prefixes)} predictions, {len(texts)} messages"
    )

    # Warm-up: the first calls build TensorFlow graphs.
    for p in prefixes[:5]:
        processor._predict_next_with_tracker(p)
    for text in texts[:5]:
        await agent.parse_message(text)
    _node_time.clear()
    _node_calls.clear()

    core_wall: list[float] = []
    for _ in range(repeat):
        for p in prefixes:
            start = time.perf_counter()
            processor._predict_next_with_tracker(p)
            core_wall.append(time.perf_counter() - start)
    core_nodes = dict(_node_time)
    _node_time.clear()
    nlu_wall: list[float] = []
    for _ in range(repeat):
        for text in texts:
            start = time.perf_counter()
            await agent.parse_message(text)
            nlu_wall.append(time.perf_counter() - start)
    nlu_nodes = dict(_node_time)

    n_core, n_nlu = len(core_wall), len(nlu_wall)
    print(
        f"\npolicy ensemble: {statistics.mean(core_wall) * 1000:.1f} ms per prediction "
        f"(median {statistics.median(core_wall) * 1000:.1f} ms, {n_core} predictions)"
    )
    for name, total in sorted(core_nodes.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<45} {total / n_core * 1000:7.2f} ms")
    print(
        f"\nNLU: {statistics.mean(nlu_wall) * 1000:.1f} ms per message "
        f"(median {statistics.median(nlu_wall) * 1000:.1f} ms, {n_nlu} parses)"
    )
    for name, total in sorted(nlu_nodes.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<45} {total / n_nlu * 1000:7.2f} ms")

    policy_fields = " ".join(
        f"{name.removeprefix('run_')}_ms={total / n_core * 1000:.2f}"
        for name, total in sorted(core_nodes.items())
        if "Policy" in name
    )
    print(
        f"\npolicies_ms_per_prediction={statistics.mean(core_wall) * 1000:.2f} "
        f"nlu_ms_per_message={statistics.mean(nlu_wall) * 1000:.2f} {policy_fields}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    _instrument_graph()
    with tempfile.TemporaryDirectory():
        asyncio.run(_measure(args.model or _default_model(), args.repeat))


if __name__ == "__main__":
    main()
