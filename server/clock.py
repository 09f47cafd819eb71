"""Time source, injected so tests can fix 'now' (and 'today' in America/Sao_Paulo)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


def local_today(clock: Clock, tz: str = "America/Sao_Paulo") -> date:
    return clock.now().astimezone(ZoneInfo(tz)).date()
