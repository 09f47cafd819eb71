"""Messages-per-second limit per sender (Twilio's WhatsApp default is 80 per sender).

``LocalRateLimiter`` paces the senders of one process; ``RedisRateLimiter`` shares a
per-second window among every worker process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

import redis


class RateLimiter(Protocol):
    def acquire(self, sender: str) -> None:
        """Blocks until one more message may leave ``sender``."""


class LocalRateLimiter:
    """Evenly spaced slots, 1/rate apart: a steady rate with no bursts beyond one message."""

    def __init__(
        self,
        per_second: float,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._interval = 1.0 / per_second
        self._monotonic = monotonic
        self._sleep = sleep
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def acquire(self, sender: str) -> None:
        with self._lock:
            now = self._monotonic()
            slot = max(now, self._next.get(sender, now))
            self._next[sender] = slot + self._interval
        if slot > now:
            self._sleep(slot - now)


class RedisRateLimiter:
    """A fixed one-second window per sender (INCR + EXPIRE), shared by all processes."""

    def __init__(
        self,
        client: redis.Redis,
        per_second: int,
        prefix: str = "negocia:rate:",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._limit = per_second
        self._prefix = prefix
        self._sleep = sleep

    def acquire(self, sender: str) -> None:
        while True:
            now = time.time()
            second = int(now)
            key = f"{self._prefix}{sender}:{second}"
            pipe = self._client.pipeline()
            pipe.incr(key)
            pipe.expire(key, 5)
            count, _ = pipe.execute()
            if int(count) <= self._limit:
                return
            self._sleep(second + 1 - now)
