"""What a preview is computed for: an amount and age typed by the admin, or a real debtor's
overdue invoices (updated balance and oldest invoice's days overdue, as the bot would see them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from server.db.models import Debtor
from server.domain.money import ZERO
from server.services.negotiation import overdue_items


@dataclass(frozen=True)
class PreviewDebt:
    amount: Decimal
    days_overdue: int
    segment: str | None
    debtor: str | None = None

    def view(self) -> dict[str, Any]:
        return {"amount": str(self.amount), "days_overdue": self.days_overdue, "segment": self.segment,
                "debtor": self.debtor}  # fmt: skip


def debtor_debt(session: Session, debtor_id: int, today: date) -> PreviewDebt | None:
    debtor = session.get(Debtor, debtor_id)
    if debtor is None:
        return None
    items = overdue_items(session, debtor, today)
    total = sum((it.balance.total for it in items), ZERO)
    days = max((it.balance.days_late for it in items), default=0)
    return PreviewDebt(total, max(days, 1), debtor.segment, debtor.legal_name)
