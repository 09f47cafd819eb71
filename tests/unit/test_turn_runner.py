"""The turn pool: per-conversation coalescing, and fairness between conversations."""

from __future__ import annotations

import threading

from bot.turn_runner import TurnRunner


class Conversation:
    """A conversation with ``pending`` turns; each drain runs one and says whether more wait."""

    def __init__(self, name: str, pending: int, log: list[str], gate: threading.Event | None = None) -> None:
        self.name, self.pending, self.log, self.gate = name, pending, log, gate

    def drain(self) -> bool:
        if self.gate is not None:
            self.gate.wait(10)
            self.gate = None
        if self.pending == 0:
            return False
        self.log.append(self.name)
        self.pending -= 1
        return self.pending > 0


def test_a_burst_of_one_sender_does_not_hold_the_thread_while_others_wait() -> None:
    log: list[str] = []
    gate = threading.Event()
    runner = TurnRunner(workers=1)
    try:
        chatty = Conversation("chatty", 4, log, gate)
        runner.schedule("chatty", chatty.drain)  # on the only thread, held at the gate
        for name in ("ana", "bia"):
            quiet = Conversation(name, 1, log)
            runner.schedule(name, quiet.drain)
        gate.set()
        assert runner.wait_idle(10)
    finally:
        runner.close()
    # The others' first turns come right after chatty's first, not after all four.
    assert log == ["chatty", "ana", "bia", "chatty", "chatty", "chatty"]


def test_a_schedule_during_a_drain_runs_it_once_more() -> None:
    log: list[str] = []
    started, gate = threading.Event(), threading.Event()
    runner = TurnRunner(workers=2)
    conversation = Conversation("x", 0, log)
    calls = 0

    def drain() -> bool:
        nonlocal calls
        calls += 1
        if calls == 1:
            started.set()
            gate.wait(10)
        return conversation.drain()

    try:
        runner.schedule("x", drain)
        assert started.wait(10)
        conversation.pending = 1  # a message arrives while the first drain runs
        runner.schedule("x", drain)
        runner.schedule("x", drain)  # coalesced with the one before
        gate.set()
        assert runner.wait_idle(10)
    finally:
        runner.close()
    assert calls == 2 and log == ["x"]


def test_a_failing_drain_is_not_retried_in_a_loop() -> None:
    calls = 0

    def broken() -> bool:
        nonlocal calls
        calls += 1
        raise RuntimeError("database down")

    runner = TurnRunner(workers=1)
    try:
        runner.schedule("x", broken)
        assert runner.wait_idle(10)
    finally:
        runner.close()
    assert calls == 1
