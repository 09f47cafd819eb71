"""The creditor's calendar day, as the server computes it.

The server dates balances, due days and agreements in America/Sao_Paulo, so a test that builds a
portfolio or expects a date from the host's `date.today()` disagrees with it for the three hours
each night when UTC is already on the next day (CI ran into it at 00:xx UTC).
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

BUSINESS_TZ = ZoneInfo("America/Sao_Paulo")


def business_today() -> date:
    return datetime.now(BUSINESS_TZ).date()
