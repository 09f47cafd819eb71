"""The conversation state machine (DESIGN §5), enforced in one place.

bot → waiting_human → with_human → bot | closed; a waiting conversation may also go back to the
bot or be closed without being claimed, and a closed one reopens with the bot when the debtor
writes again.
"""

from __future__ import annotations

from server.db.models import ConversationState as S

ALLOWED: dict[S, frozenset[S]] = {
    S.BOT: frozenset({S.WAITING_HUMAN, S.CLOSED}),
    S.WAITING_HUMAN: frozenset({S.WITH_HUMAN, S.BOT, S.CLOSED}),
    S.WITH_HUMAN: frozenset({S.BOT, S.CLOSED}),
    S.CLOSED: frozenset({S.BOT, S.WAITING_HUMAN}),
}


class InvalidTransition(ValueError):
    def __init__(self, current: S, target: S) -> None:
        super().__init__(f"transição inválida: {current.value} → {target.value}")
        self.current = current
        self.target = target


def check_transition(current: S, target: S) -> None:
    if target not in ALLOWED[current]:
        raise InvalidTransition(current, target)
