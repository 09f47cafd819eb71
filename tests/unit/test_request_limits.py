"""Abuse limits: the fixed-window limiter in-process and on a real Redis (required when CI=true)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from server.services.request_limits import (
    SENDER_REASON,
    Limit,
    LocalRequestLimiter,
    RateLimited,
    RedisRequestLimiter,
    RequestLimiter,
    check,
    telegram_sender,
)


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["local", "redis"])
def limiter_and_clock(request: pytest.FixtureRequest) -> Iterator[tuple[RequestLimiter, FakeClock]]:
    clock = FakeClock()
    if request.param == "local":
        yield LocalRequestLimiter(clock), clock
        return
    client, prefix = request.getfixturevalue("redis_prefix")
    yield RedisRequestLimiter(client, prefix=prefix, clock=clock), clock


def test_allows_the_limit_then_refuses_until_the_window_ends(
    limiter_and_clock: tuple[RequestLimiter, FakeClock],
) -> None:
    limiter, clock = limiter_and_clock
    limit = Limit(3, 60)
    clock.now = 60 * 1000 + 10.0  # 10 s into a window
    assert [limiter.hit("a", limit) for _ in range(3)] == [None, None, None]
    retry = limiter.hit("a", limit)
    assert retry == pytest.approx(50.0)
    assert limiter.hit("b", limit) is None  # keys are independent
    clock.now += 50.0  # the next window
    assert limiter.hit("a", limit) is None


def test_check_raises_with_a_portuguese_reason_and_a_whole_retry_after() -> None:
    clock = FakeClock(120.5)
    limiter = LocalRequestLimiter(clock)
    check(limiter, "s", Limit(1, 60), SENDER_REASON)
    with pytest.raises(RateLimited) as caught:
        check(limiter, "s", Limit(1, 60), SENDER_REASON)
    assert caught.value.retry_after_header == "60"  # 59.5 s rounded up
    assert "aguarde 60 s" in caught.value.reason


def test_zero_disables_a_limit() -> None:
    limiter = LocalRequestLimiter(FakeClock())
    for _ in range(100):
        check(limiter, "s", Limit(0, 60), SENDER_REASON)


def test_local_limiter_forgets_old_windows_when_full() -> None:
    clock = FakeClock(0.0)
    limiter = LocalRequestLimiter(clock, max_keys=10)
    for i in range(10):
        limiter.hit(f"k{i}", Limit(1, 60))
    clock.now = 120.0
    assert limiter.hit("new", Limit(1, 60)) is None
    assert len(limiter._counts) == 1


def test_telegram_sender_of_each_update_kind() -> None:
    assert telegram_sender({"update_id": 1, "message": {"from": {"id": 42}}}) == "42"
    assert telegram_sender({"update_id": 1, "callback_query": {"from": {"id": 7}}}) == "7"
    assert telegram_sender({"update_id": 1, "message": {"from": {"id": "x"}}}) is None
    assert telegram_sender({"update_id": 1, "message": "nope"}) is None
