"""Runs deferred and orphaned turns again: the other half of "no message lost".

A turn stays pending when the dialogue engine was unavailable (bot/gateway.py defers it) or when
the server died while running it. Every ``interval_s`` this retrier looks for conversations with a
pending message older than ``grace_s`` and schedules their ``process_next`` on the turn pool
(which coalesces per conversation, and the conversation lock keeps each turn single). While the
engine keeps failing, the interval doubles up to ``max_interval_s``; the first success resets it.
Several server processes may each run one: the per-conversation lock makes that safe.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bot.gateway import EngineHealth, Gateway
from bot.turn_runner import TurnRunner

log = logging.getLogger(__name__)


class PendingRetrier:
    def __init__(
        self,
        gateway: Callable[[], Gateway],
        turns: TurnRunner,
        health: EngineHealth,
        *,
        interval_s: float = 5.0,
        max_interval_s: float = 60.0,
        grace_s: float | None = None,
    ) -> None:
        self._gateway = gateway
        self._turns = turns
        self._health = health
        self._interval = interval_s
        self._max_interval = max_interval_s
        # Fresh pending messages belong to the request that accepted them.
        self._grace = timedelta(seconds=interval_s if grace_s is None else grace_s)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def delay(self) -> float:
        """Seconds until the next sweep: doubling with consecutive engine failures, capped."""
        return float(min(self._interval * 2 ** min(self._health.failures, 16), self._max_interval))

    def sweep(self) -> int:
        """Schedule every conversation with a stale pending message; returns how many."""
        gateway = self._gateway()
        conversations = gateway.pending_conversations(datetime.now(UTC) - self._grace)
        for public_id in conversations:
            self._turns.schedule(public_id, functools.partial(gateway.process_next, public_id))
        if conversations:
            log.info("retrying the pending turns of %d conversation(s)", len(conversations))
        return len(conversations)

    def _loop(self) -> None:
        while not self._stop.wait(self.delay()):
            try:
                self.sweep()
            except Exception:  # the database may be down too: try again next time
                log.exception("pending-turn sweep failed")

    def start(self) -> PendingRetrier:
        self._thread = threading.Thread(target=self._loop, name="pending-retrier", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
