"""Abuse limits on inbound requests: so many hits per key (an IP, a sender) per time window.

``LocalRequestLimiter`` counts in this process; ``RedisRequestLimiter`` (when NEGOCIA_REDIS_URL is
set) shares the counts among every server worker. Both are fixed windows: simple, and a burst at
a window's edge is at most twice the limit, which is fine for abuse control.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import redis


@dataclass(frozen=True)
class Limit:
    hits: int
    window_s: int


class RequestLimiter(Protocol):
    def hit(self, key: str, limit: Limit) -> float | None:
        """Count one hit of ``key``; ``None`` when allowed, else the seconds until it may retry."""


class LocalRequestLimiter:
    def __init__(self, clock: Callable[[], float] = time.time, max_keys: int = 100_000) -> None:
        self._clock = clock
        self._max_keys = max_keys
        self._counts: dict[str, tuple[int, int]] = {}  # key -> (window number, hits)
        self._lock = threading.Lock()

    def hit(self, key: str, limit: Limit) -> float | None:
        now = self._clock()
        window = int(now // limit.window_s)
        with self._lock:
            if len(self._counts) >= self._max_keys:
                self._counts = {k: v for k, v in self._counts.items() if v[0] >= window}
            seen_window, hits = self._counts.get(key, (window, 0))
            hits = hits + 1 if seen_window == window else 1
            self._counts[key] = (window, hits)
        if hits <= limit.hits:
            return None
        return max((window + 1) * limit.window_s - now, 0.001)


class RedisRequestLimiter:
    def __init__(
        self, client: redis.Redis, prefix: str = "negocia:limit:", clock: Callable[[], float] = time.time
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._clock = clock

    def hit(self, key: str, limit: Limit) -> float | None:
        now = self._clock()
        window = int(now // limit.window_s)
        name = f"{self._prefix}{key}:{limit.window_s}:{window}"
        pipe = self._client.pipeline()
        pipe.incr(name)
        pipe.expire(name, limit.window_s + 1)
        hits, _ = pipe.execute()
        if int(hits) <= limit.hits:
            return None
        return max((window + 1) * limit.window_s - now, 0.001)


class RateLimited(Exception):
    def __init__(self, retry_after_s: float, reason: str) -> None:
        super().__init__(reason)
        self.retry_after_s = retry_after_s
        self.reason = reason

    @property
    def retry_after_header(self) -> str:
        return str(max(1, math.ceil(self.retry_after_s)))


SENDER_REASON = "muitas mensagens deste remetente; aguarde {seconds} s e tente novamente"
IP_REASON = "muitas requisições deste endereço; aguarde {seconds} s e tente novamente"


def check(limiter: RequestLimiter, key: str, limit: Limit, reason: str) -> None:
    """Raises RateLimited (→ 429 with Retry-After) when ``key`` is over ``limit``."""
    if limit.hits <= 0:
        return  # 0 disables this limit
    retry = limiter.hit(key, limit)
    if retry is not None:
        seconds = max(1, math.ceil(retry))
        raise RateLimited(retry, reason.format(seconds=seconds))


def telegram_sender(update: dict[str, Any]) -> str | None:
    """The Telegram user an update comes from (message, edited message, button press)."""
    for kind in ("message", "edited_message", "callback_query", "my_chat_member"):
        part = update.get(kind)
        if isinstance(part, dict):
            sender = part.get("from")
            if isinstance(sender, dict) and isinstance(sender.get("id"), int):
                return str(sender["id"])
    return None
