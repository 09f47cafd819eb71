"""When a person can answer: the collectors' working hours, in São Paulo time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

TZ = ZoneInfo("America/Sao_Paulo")


@dataclass(frozen=True)
class WorkingHours:
    """Per weekday (0 = Monday) an opening and closing time; missing days are closed."""

    days: dict[int, tuple[time, time]]

    def is_open(self, at: datetime) -> bool:
        local = at.astimezone(TZ)
        hours = self.days.get(local.weekday())
        return hours is not None and hours[0] <= local.time() < hours[1]

    def next_opening(self, at: datetime) -> datetime:
        """``at`` itself when open, otherwise the next opening time (aware, São Paulo)."""
        local = at.astimezone(TZ)
        if self.is_open(local):
            return local
        for offset in range(0, 8):
            day = (local + timedelta(days=offset)).date()
            hours = self.days.get(day.weekday())
            if hours is None:
                continue
            opening = datetime.combine(day, hours[0], tzinfo=TZ)
            if opening > local:
                return opening
        raise ValueError("no working hours configured")


DEFAULT_WORKING_HOURS = WorkingHours({d: (time(8), time(18)) for d in range(5)})
