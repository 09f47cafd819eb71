"""Where a collector's authority comes from: their own row, else the global row, else settings."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import CollectorAuthority, User
from server.domain.collector_authority import Authority, authority_errors
from server.domain.policy import InvalidPolicy
from server.settings import Settings

FIELDS = (
    "max_discount_pct", "max_installments", "min_installment_amount", "min_down_payment_pct",
    "monthly_interest_pct", "max_first_due_days", "limit_amount",
)  # fmt: skip


def default_authority(settings: Settings) -> Authority:
    return Authority(**{name: getattr(settings, f"collector_{name}") for name in FIELDS})


def _row(session: Session, user_id: int | None) -> CollectorAuthority | None:
    cond = CollectorAuthority.user_id.is_(None) if user_id is None else CollectorAuthority.user_id == user_id
    return session.scalar(select(CollectorAuthority).where(cond))


def _from_row(row: CollectorAuthority) -> Authority:
    return Authority(**{name: getattr(row, name) for name in FIELDS})


def authority_for(session: Session, user: User | None, settings: Settings) -> Authority:
    """``user`` None: the global authority."""
    row = (_row(session, user.id) if user is not None else None) or _row(session, None)
    return _from_row(row) if row is not None else default_authority(settings)


def set_authority(
    session: Session, user_id: int | None, authority: Authority, admin: User, now: datetime
) -> CollectorAuthority:
    """Validated (``InvalidPolicy`` with field errors); the caller commits."""
    errors = list(authority_errors(authority))
    if errors:
        raise InvalidPolicy(errors)
    row = _row(session, user_id)
    if row is None:
        row = CollectorAuthority(user_id=user_id)
        session.add(row)
    for name in FIELDS:
        setattr(row, name, getattr(authority, name))
    row.updated_by_id = admin.id
    row.updated_at = now
    session.flush()
    return row
