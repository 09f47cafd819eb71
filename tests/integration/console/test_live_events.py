"""Live notifications: a publish from a worker thread wakes a subscriber on the event loop,
in-process and over Redis pub/sub (several server processes)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from server.services.live import LiveEvents, LocalLiveEvents, RedisLiveEvents
from tests.conftest import REDIS_URL, require_redis


def _redis_events() -> LiveEvents:
    require_redis().close()
    return RedisLiveEvents(REDIS_URL)


@pytest.fixture(params=["local", "redis"])
def live(request: pytest.FixtureRequest) -> Iterator[LiveEvents]:
    events = LocalLiveEvents() if request.param == "local" else _redis_events()
    yield events
    if isinstance(events, RedisLiveEvents):
        events.close()


def test_a_publish_from_another_thread_wakes_the_subscriber(live: LiveEvents) -> None:
    async def scenario() -> tuple[bool, bool, bool]:
        async with live.subscribe("conversation:42") as sub:
            quiet = await sub.wait(0.05)
            threading.Thread(target=live.publish, args=("conversation:42",)).start()
            woken = await sub.wait(5)
            live.publish("conversation:43")  # another conversation: not ours
            other = await sub.wait(0.2)
        return quiet, woken, other

    assert asyncio.run(scenario()) == (False, True, False)
