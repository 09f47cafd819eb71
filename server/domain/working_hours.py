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


_WEEKDAYS = ("segunda", "terça", "quarta", "quinta", "sexta", "sábado", "domingo")


def _clock(t: time) -> str:
    return f"{t.hour}h" if t.minute == 0 else f"{t.hour}h{t.minute:02d}"


def describe_hours(hours: WorkingHours) -> str:
    """The hours in words for the debtor, e.g. "de segunda a sexta, das 8h às 18h; sábado, das 8h às 12h".

    Consecutive days with the same hours are joined into one range.
    """
    groups: list[tuple[int, int, tuple[time, time]]] = []
    for day in range(7):
        span = hours.days.get(day)
        if span is None:
            continue
        if groups and groups[-1][1] == day - 1 and groups[-1][2] == span:
            groups[-1] = (groups[-1][0], day, span)
        else:
            groups.append((day, day, span))
    parts = []
    for first, last, (opening, closing) in groups:
        days = _WEEKDAYS[first] if first == last else f"de {_WEEKDAYS[first]} a {_WEEKDAYS[last]}"
        if last - first == 1:
            days = f"{_WEEKDAYS[first]} e {_WEEKDAYS[last]}"
        parts.append(f"{days}, das {_clock(opening)} às {_clock(closing)}")
    return "; ".join(parts)


def describe_opening(at: datetime) -> str:
    """When a person will answer, e.g. "segunda, 07/12/2026 às 8h"."""
    local = at.astimezone(TZ)
    return f"{_WEEKDAYS[local.weekday()]}, {local:%d/%m/%Y} às {_clock(local.time())}"


DEFAULT_WORKING_HOURS = WorkingHours({d: (time(8), time(18)) for d in range(5)})
