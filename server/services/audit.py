"""The audit log: every staff action, with who, what, when, on what and the details."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from server.db.models import AuditEntry, User


def record(
    session: Session, user: User | None, action: str, target_type: str, target_id: object, now: datetime,
    **details: Any,
) -> AuditEntry:  # fmt: skip
    """Adds the entry to the caller's transaction: the action and its record commit together."""
    entry = AuditEntry(
        user_id=user.id if user else None,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        details={k: v if isinstance(v, (str, int, bool, type(None))) else str(v) for k, v in details.items()},
        created_at=now,
    )
    session.add(entry)
    return entry
