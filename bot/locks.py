"""Per-conversation locks: one turn at a time per sender (Rasa's trackers are not merge-safe).

In-process locks for the embedded default; Redis locks when several server processes run.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

import redis


class ConversationLocks(Protocol):
    def hold(self, key: str) -> AbstractContextManager[None]: ...


class LocalLocks:
    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._locks[key]
                if users <= 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)


class RedisLocks:
    def __init__(self, client: redis.Redis, prefix: str = "negocia:lock:", timeout_s: float = 60.0) -> None:
        self._client = client
        self._prefix = prefix
        self._timeout_s = timeout_s

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        lock = self._client.lock(
            self._prefix + key, timeout=self._timeout_s, blocking_timeout=self._timeout_s
        )
        if not lock.acquire():
            raise TimeoutError(f"could not lock conversation {key}")
        try:
            yield
        finally:
            lock.release()
