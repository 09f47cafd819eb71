"""When a debtor may be contacted: weekday windows in the debtor's own time zone, never on a
national holiday. The time zone comes from the state, and the state from the phone's DDD.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

DEFAULT_TZ = "America/Sao_Paulo"

# DDD → state (Anatel numbering plan).
_DDD_STATE: dict[int, str] = {
    **dict.fromkeys(range(11, 20), "SP"),
    **dict.fromkeys((21, 22, 24), "RJ"),
    **dict.fromkeys((27, 28), "ES"),
    **dict.fromkeys((31, 32, 33, 34, 35, 37, 38), "MG"),
    **dict.fromkeys(range(41, 47), "PR"),
    **dict.fromkeys((47, 48, 49), "SC"),
    **dict.fromkeys((51, 53, 54, 55), "RS"),
    61: "DF",
    **dict.fromkeys((62, 64), "GO"),
    63: "TO",
    **dict.fromkeys((65, 66), "MT"),
    67: "MS",
    68: "AC",
    69: "RO",
    **dict.fromkeys((71, 73, 74, 75, 77), "BA"),
    79: "SE",
    **dict.fromkeys((81, 87), "PE"),
    82: "AL",
    83: "PB",
    84: "RN",
    **dict.fromkeys((85, 88), "CE"),
    **dict.fromkeys((86, 89), "PI"),
    **dict.fromkeys((91, 93, 94), "PA"),
    **dict.fromkeys((92, 97), "AM"),
    95: "RR",
    96: "AP",
    **dict.fromkeys((98, 99), "MA"),
}

# State → IANA zone (the capital's; states not listed follow Brasília time).
_STATE_TZ: dict[str, str] = {
    "AC": "America/Rio_Branco",
    "AM": "America/Manaus",
    "RR": "America/Boa_Vista",
    "RO": "America/Porto_Velho",
    "MT": "America/Cuiaba",
    "MS": "America/Campo_Grande",
    "PA": "America/Belem",
    "AP": "America/Belem",
    "TO": "America/Araguaina",
    "MA": "America/Fortaleza",
    "PI": "America/Fortaleza",
    "CE": "America/Fortaleza",
    "RN": "America/Fortaleza",
    "PB": "America/Fortaleza",
    "PE": "America/Recife",
    "AL": "America/Maceio",
    "SE": "America/Maceio",
    "BA": "America/Bahia",
}


def state_for_phone(e164: str | None) -> str | None:
    """The state of a Brazilian E.164 number (+55 DDD …), or None when it is not one."""
    if not e164 or not e164.startswith("+55") or len(e164) < 5 or not e164[3:5].isdigit():
        return None
    return _DDD_STATE.get(int(e164[3:5]))


def timezone_for_phone(e164: str | None) -> str:
    state = state_for_phone(e164)
    return _STATE_TZ.get(state, DEFAULT_TZ) if state else DEFAULT_TZ


@lru_cache(maxsize=64)
def _national_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("BR", years=year).keys())


def is_national_holiday(day: date) -> bool:
    return day in _national_holidays(day.year)


@dataclass(frozen=True)
class ContactHours:
    """Per weekday (0 = Monday) the window [start, end) in local time; missing days are closed."""

    days: dict[int, tuple[time, time]]

    def allows(self, at: datetime, tz: str) -> bool:
        local = at.astimezone(ZoneInfo(tz))
        window = self.days.get(local.weekday())
        if window is None or is_national_holiday(local.date()):
            return False
        return window[0] <= local.time() < window[1]

    def next_allowed(self, at: datetime, tz: str) -> datetime:
        """``at`` when contact is allowed then, otherwise the next opening (aware, local zone)."""
        zone = ZoneInfo(tz)
        local = at.astimezone(zone)
        if self.allows(local, tz):
            return local
        for offset in range(0, 15):
            day = local.date() + timedelta(days=offset)
            window = self.days.get(day.weekday())
            if window is None or is_national_holiday(day):
                continue
            opening = datetime.combine(day, window[0], tzinfo=zone)
            if opening > local:
                return opening
        raise ValueError("no contact hours configured")


DEFAULT_CONTACT_HOURS = ContactHours({**{d: (time(8), time(20)) for d in range(5)}, 5: (time(8), time(14))})
