"""A bounded pool of threads for dialogue turns, separate from the request threadpool.

A turn waits seconds for Rasa, and Rasa's actions call back into this server's internal API. If
turns ran on the request threadpool, ~40 concurrent turns would hold every request thread and the
callbacks they wait for could never run. Turns therefore run here; request threads stay free.

``schedule`` coalesces per conversation: while a drain of conversation X is queued or running,
further schedules of X only ask it to run once more, so no thread sits blocked on X's lock. A drain
returns whether work remains (``Gateway.process_next`` runs one turn); X is then queued again
behind the other conversations instead of keeping its thread, so one sender's burst of messages
cannot starve everyone else's first reply.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from server.logging_setup import conversation_id_var

log = logging.getLogger(__name__)
T = TypeVar("T")


class TurnRunner:
    def __init__(self, workers: int = 16) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="turn")
        self._guard = threading.Condition()
        self._again: dict[str, bool] = {}  # conversation key -> another drain requested

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn`` on a turn thread and await its result (the sandbox's synchronous turn)."""
        # In the caller's context: the request id follows the turn into the logs.
        context = contextvars.copy_context()
        return await asyncio.wrap_future(self._pool.submit(context.run, fn, *args))

    def schedule(self, key: str, drain: Callable[[], object]) -> None:
        """Run ``drain`` for ``key`` on the pool; a truthy result means "more to do": it runs again,
        queued behind whatever was submitted meanwhile."""
        with self._guard:
            if key in self._again:
                self._again[key] = True
                return
            self._again[key] = False
        self._submit(key, drain)

    def _submit(self, key: str, drain: Callable[[], object]) -> None:
        self._pool.submit(contextvars.copy_context().run, self._drain, key, drain)

    def _drain(self, key: str, drain: Callable[[], object]) -> None:
        conversation_id_var.set(key)  # this thread's copied context: the logs name the conversation
        try:
            more = bool(drain())
        except Exception:
            log.exception("turn drain failed for %s", key)
            more = False
        with self._guard:
            if not (more or self._again.get(key)):
                del self._again[key]
                self._guard.notify_all()
                return
            self._again[key] = False
        try:
            self._submit(key, drain)  # to the back of the queue: other conversations go first
        except RuntimeError:  # the pool is shut down
            with self._guard:
                self._again.pop(key, None)
                self._guard.notify_all()

    def wait_idle(self, timeout_s: float = 30.0) -> bool:
        """True once nothing is scheduled (tests and shutdown)."""
        with self._guard:
            return self._guard.wait_for(lambda: not self._again, timeout=timeout_s)

    def close(self) -> None:
        self.wait_idle(10.0)
        self._pool.shutdown(wait=False, cancel_futures=True)
