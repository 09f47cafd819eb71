"""Admin-edited settings: read by the services (environment as the default), written by admins
with validation and an audit entry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import AppSetting, User
from server.domain.admin_settings import (
    DEFAULT_CONTACT_HOURS,
    CreditorIdentity,
    LateCharges,
    parse_creditor_identity,
    parse_late_charges,
    parse_weekly_hours,
    weekly_hours_to_dict,
)
from server.domain.pix import MAX_MERCHANT_CITY, MAX_MERCHANT_NAME, fit_pix_text
from server.domain.working_hours import DEFAULT_WORKING_HOURS, WorkingHours
from server.services import audit
from server.services.creditor import get_or_create_creditor
from server.settings import Settings

WORKING_HOURS = "working_hours"
CONTACT_HOURS = "contact_hours"
CREDITOR = "creditor"


def _row(session: Session, key: str) -> AppSetting | None:
    return session.scalar(select(AppSetting).where(AppSetting.key == key))


def _store(session: Session, key: str, value: dict[str, Any], admin: User, now: datetime) -> None:
    row = _row(session, key)
    if row is None:
        row = AppSetting(key=key, value=value)
        session.add(row)
    row.value = value
    row.updated_by_id = admin.id
    row.updated_at = now
    session.flush()


def _hours(session: Session, key: str, default: WorkingHours) -> WorkingHours:
    row = _row(session, key)
    return parse_weekly_hours(row.value) if row is not None else default


def working_hours(session: Session) -> WorkingHours:
    """When collectors answer (handoff messages tell the debtor when a person will reply)."""
    return _hours(session, WORKING_HOURS, DEFAULT_WORKING_HOURS)


def contact_hours(session: Session) -> WorkingHours:
    """When debtors may be contacted (reminders); holidays are excluded by the scheduler."""
    return _hours(session, CONTACT_HOURS, DEFAULT_CONTACT_HOURS)


def set_hours(session: Session, key: str, data: dict[str, Any], admin: User, now: datetime) -> WorkingHours:
    """Raises ``InvalidSettings``; the caller commits."""
    hours = parse_weekly_hours(data)
    _store(session, key, weekly_hours_to_dict(hours), admin, now)
    audit.record(session, admin, f"set_{key}", "settings", key, now, **{
        k: f"{v['open']}-{v['close']}" if v["open"] else "fechado" for k, v in weekly_hours_to_dict(hours).items()
    })  # fmt: skip
    return hours


def default_identity(settings: Settings) -> CreditorIdentity:
    return CreditorIdentity(
        legal_name=settings.creditor_legal_name,
        trade_name=settings.creditor_trade_name,
        cnpj=settings.creditor_cnpj,
        address=settings.creditor_address,
        pix_key=settings.creditor_pix_key,
        merchant_name=fit_pix_text(settings.creditor_trade_name, MAX_MERCHANT_NAME),
        merchant_city=fit_pix_text(settings.creditor_city, MAX_MERCHANT_CITY),
    )


def creditor_identity(session: Session, settings: Settings) -> CreditorIdentity:
    row = _row(session, CREDITOR)
    return CreditorIdentity(**row.value) if row is not None else default_identity(settings)


def set_creditor_identity(
    session: Session, settings: Settings, data: dict[str, Any], admin: User, now: datetime
) -> CreditorIdentity:
    identity = parse_creditor_identity(data)
    creditor = get_or_create_creditor(session, settings)
    before = creditor_identity(session, settings)
    creditor.legal_name, creditor.trade_name, creditor.cnpj = (
        identity.legal_name, identity.trade_name, identity.cnpj,
    )  # fmt: skip
    _store(session, CREDITOR, identity.to_dict(), admin, now)
    changed = {
        k: f"{getattr(before, k)} → {v}" for k, v in identity.to_dict().items() if getattr(before, k) != v
    }
    audit.record(session, admin, "set_creditor", "settings", CREDITOR, now, **changed)
    return identity


def late_charges(session: Session, settings: Settings) -> LateCharges:
    creditor = get_or_create_creditor(session, settings)
    return LateCharges(creditor.late_fee_pct, creditor.monthly_interest_pct)


def set_late_charges(
    session: Session, settings: Settings, data: dict[str, Any], admin: User, now: datetime
) -> LateCharges:
    """Multa and juros live on the creditor row (the balance computation reads them there)."""
    charges = parse_late_charges(data)
    creditor = get_or_create_creditor(session, settings)
    before = LateCharges(creditor.late_fee_pct, creditor.monthly_interest_pct)
    creditor.late_fee_pct, creditor.monthly_interest_pct = charges.late_fee_pct, charges.monthly_interest_pct
    session.flush()
    audit.record(session, admin, "set_late_charges", "settings", "charges", now,
                 late_fee_pct=f"{before.late_fee_pct} → {charges.late_fee_pct}",
                 monthly_interest_pct=f"{before.monthly_interest_pct} → {charges.monthly_interest_pct}")  # fmt: skip
    return charges
