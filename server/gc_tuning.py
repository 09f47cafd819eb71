"""The cycle collector of a long-running server process, tuned once its startup is done."""

from __future__ import annotations

import gc

# Young-generation threshold once the heap is frozen: the default (700 allocations) ran a
# collection every few milliseconds under load.
THRESHOLDS = (10_000, 10, 10)


def freeze_heap() -> None:
    """Collect once, then freeze what is alive (modules, the app, the container's engines and
    clients): later collections scan only objects made after startup. Under bench/load.py the
    server spent ~5 % of its CPU in the cycle collector before this."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
