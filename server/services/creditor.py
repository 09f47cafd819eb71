"""The creditor of this installation (one per deployment, created from settings on first use)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import Creditor
from server.domain.cnpj import normalize_cnpj
from server.domain.money import LateChargeRules
from server.settings import Settings


def get_or_create_creditor(session: Session, settings: Settings) -> Creditor:
    cnpj = normalize_cnpj(settings.creditor_cnpj)
    creditor = session.scalar(select(Creditor).where(Creditor.cnpj == cnpj))
    if creditor is None:
        # One creditor per deployment: an admin may have changed its CNPJ from the env's.
        creditor = session.scalar(select(Creditor).order_by(Creditor.id).limit(1))
    if creditor is None:
        creditor = Creditor(
            legal_name=settings.creditor_legal_name,
            trade_name=settings.creditor_trade_name,
            cnpj=cnpj,
        )
        session.add(creditor)
        session.flush()
    return creditor


def late_charge_rules(creditor: Creditor) -> LateChargeRules:
    return LateChargeRules(
        late_fee_pct=creditor.late_fee_pct, monthly_interest_pct=creditor.monthly_interest_pct
    )
