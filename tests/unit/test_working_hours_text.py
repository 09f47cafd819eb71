"""What the debtor is told about the collectors' hours."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from bot import texts
from bot.gateway import waiting_text
from server.domain.working_hours import (
    DEFAULT_WORKING_HOURS,
    WorkingHours,
    describe_hours,
    describe_opening,
)


@pytest.mark.parametrize(
    ("days", "words"),
    [
        ({d: (time(8), time(18)) for d in range(5)}, "de segunda a sexta, das 8h às 18h"),
        (
            {0: (time(8), time(18)), 1: (time(8), time(18)), 5: (time(8), time(12, 30))},
            "segunda e terça, das 8h às 18h; sábado, das 8h às 12h30",
        ),
        (
            {0: (time(9), time(17)), 1: (time(9), time(17)), 2: (time(8), time(18)), 6: (time(10), time(12))},
            "segunda e terça, das 9h às 17h; quarta, das 8h às 18h; domingo, das 10h às 12h",
        ),
    ],
)
def test_hours_in_words(days: dict[int, tuple[time, time]], words: str) -> None:
    assert describe_hours(WorkingHours(days)) == words


def test_waiting_text_inside_hours_is_the_plain_notice() -> None:
    tuesday_10h = datetime(2026, 12, 1, 13, 0, tzinfo=UTC)  # 10h in São Paulo
    assert waiting_text(DEFAULT_WORKING_HOURS, tuesday_10h) == texts.WAITING_FOR_HUMAN


def test_waiting_text_outside_hours_says_when_a_person_answers() -> None:
    saturday = datetime(2026, 12, 5, 15, 0, tzinfo=UTC)
    text = waiting_text(DEFAULT_WORKING_HOURS, saturday)
    assert text.startswith(texts.WAITING_FOR_HUMAN)
    assert "de segunda a sexta, das 8h às 18h" in text
    assert "a partir de segunda, 07/12/2026 às 8h" in text
    assert describe_opening(DEFAULT_WORKING_HOURS.next_opening(saturday)) == "segunda, 07/12/2026 às 8h"
