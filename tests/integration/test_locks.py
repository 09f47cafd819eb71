"""Per-conversation locks: in-process, and on a real Redis (required when CI=true)."""

from __future__ import annotations

import threading
import time

import pytest

from bot.locks import ConversationLocks, LocalLocks, RedisLocks


@pytest.fixture(params=["local", "redis"])
def locks(request: pytest.FixtureRequest) -> ConversationLocks:
    if request.param == "local":
        return LocalLocks()
    client, prefix = request.getfixturevalue("redis_prefix")
    return RedisLocks(client, prefix=prefix, timeout_s=10)


def _hammer(locks: ConversationLocks, key: str, log: list[tuple[str, str]], name: str) -> None:
    for _ in range(5):
        with locks.hold(key):
            log.append((name, "in"))
            time.sleep(0.005)
            log.append((name, "out"))


def test_one_turn_at_a_time_per_conversation(locks: ConversationLocks) -> None:
    log: list[tuple[str, str]] = []
    threads = [threading.Thread(target=_hammer, args=(locks, "sandbox:+55", log, f"t{i}")) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(log) == 40
    # Strict alternation in/out by the same thread: no two turns overlapped.
    for enter, leave in zip(log[::2], log[1::2], strict=True):
        assert enter[1] == "in" and leave == (enter[0], "out")


def test_different_conversations_do_not_wait_for_each_other(locks: ConversationLocks) -> None:
    inside = threading.Event()
    release = threading.Event()

    def hold_a() -> None:
        with locks.hold("a"):
            inside.set()
            release.wait(5)

    t = threading.Thread(target=hold_a)
    t.start()
    assert inside.wait(5)
    entered_b = False
    with locks.hold("b"):
        entered_b = True
    release.set()
    t.join()
    assert entered_b
