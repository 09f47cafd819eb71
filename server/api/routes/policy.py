"""Offer policy: the version in force, publishing a new one, history, preview."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from server.api.deps import AdminUser, ContainerDep, SessionDep, StaffUser
from server.api.presenters import cash_view, plan_view
from server.clock import local_today
from server.db.models import PolicyVersion
from server.domain import negotiation as moves
from server.domain.negotiation import Situation
from server.domain.offers import make_offer
from server.domain.policy import (
    InvalidPolicy,
    LadderStep,
    OfferPolicy,
    OfferRule,
    policy_to_dict,
    validate_policy,
)
from server.services import audit
from server.services.policy import UnknownVersion, active_policy, publish_policy, roll_back, versions
from server.services.policy_preview import PreviewDebt, debtor_debt

router = APIRouter(prefix="/api/policy", tags=["policy"])

Money = Field(max_digits=14, decimal_places=2)
Pct = Field(max_digits=6, decimal_places=2)


class RuleIn(BaseModel):
    min_days: int
    max_days: int | None = None
    segment: str | None = Field(default=None, max_length=80)
    min_amount: Decimal | None = Field(default=None, max_digits=14, decimal_places=2)
    max_amount: Decimal | None = Field(default=None, max_digits=14, decimal_places=2)
    max_cash_discount_pct: Decimal = Pct
    max_installments: int
    min_installment_amount: Decimal = Money
    min_down_payment_pct: Decimal = Pct
    monthly_interest_pct: Decimal = Pct
    max_first_due_days: int
    bot_authority_limit: Decimal = Money


class StepIn(BaseModel):
    discount_fraction: Decimal = Field(max_digits=5, decimal_places=4)
    installments_fraction: Decimal = Field(max_digits=5, decimal_places=4)


class PolicyIn(BaseModel):
    rules: list[RuleIn] = Field(max_length=100)
    ladder: list[StepIn] = Field(max_length=10)
    notes: str = Field(default="", max_length=2000)

    def to_domain(self) -> OfferPolicy:
        return OfferPolicy(
            rules=tuple(OfferRule(**r.model_dump()) for r in self.rules),
            ladder=tuple(LadderStep(s.discount_fraction, s.installments_fraction) for s in self.ladder),
            notes=self.notes,
        )


def version_view(version: PolicyVersion) -> dict[str, Any]:
    return {
        "version": version.version,
        "created_at": version.created_at.isoformat(),
        "created_by_id": version.created_by_id,
        "created_by": version.created_by.email if version.created_by else None,
        "diff": version.diff or [],
        "restored_from": version.restored_from,
        "policy": version.data,
    }


def _field_errors(exc: InvalidPolicy) -> JSONResponse:
    return JSONResponse({"detail": [{"field": e.field, "message": e.message} for e in exc.errors]}, 422)


@router.get("")
def get_policy(session: SessionDep, user: StaffUser) -> dict[str, Any]:
    version, _ = active_policy(session)
    session.commit()
    return version_view(version)


@router.put("")
def put_policy(body: PolicyIn, session: SessionDep, container: ContainerDep, user: AdminUser) -> Any:
    """Publish a new version; quotes already made keep the version they were made under."""
    try:
        version = publish_policy(session, body.to_domain(), user.id)
    except InvalidPolicy as exc:
        session.rollback()
        return _field_errors(exc)
    audit.record(session, user, "policy_publish", "policy", version.version, container.clock.now(),
                 changes=len(version.diff or []))  # fmt: skip
    session.commit()
    return version_view(version)


@router.get("/versions")
def list_versions(session: SessionDep, user: StaffUser) -> list[dict[str, Any]]:
    result = [version_view(v) for v in versions(session)]
    session.commit()
    return result


class PreviewIn(BaseModel):
    amount: Decimal | None = Field(default=None, gt=0, max_digits=14, decimal_places=2)
    days_overdue: int | None = Field(default=None, ge=1, le=20000)
    segment: str | None = Field(default=None, max_length=80)
    debtor_id: int | None = None  # instead of amount/days/segment: that debtor's overdue invoices
    policy: PolicyIn | None = None  # a draft; the version in force when omitted


def ladder_view(policy: OfferPolicy, debt: PreviewDebt, today: date) -> dict[str, Any]:
    """The ladder of offers the bot would make, step by step, under ``policy``."""
    rule = policy.rule_for(debt.days_overdue, debt.segment, debt.amount)
    guard = moves.opening(Situation(debt.amount, rule, policy.ladder, today))
    steps: list[dict[str, Any]] = []
    if rule is not None and not guard.needs_human:
        for index in range(len(policy.ladder)):
            offer = make_offer(debt.amount, rule, policy.ladder, index, today)
            steps.append(
                {
                    "step": index,
                    "final": offer.final,
                    "cash": cash_view(offer.cash),
                    "plans": [plan_view(f"plan-{i}", p) for i, p in enumerate(offer.plans, start=1)],
                }
            )
    return {
        "rule": None if rule is None else policy_to_dict(OfferPolicy((rule,), policy.ladder))["rules"][0],
        "needs_human": guard.needs_human,
        "reason": guard.reason.value,
        "steps": steps,
    }


def _debt(body: PreviewIn, session: SessionDep, today: date) -> PreviewDebt | JSONResponse:
    if body.debtor_id is not None:
        debt = debtor_debt(session, body.debtor_id, today)
        if debt is None:
            return JSONResponse(
                {"detail": [{"field": "debtor_id", "message": "devedor não encontrado"}]}, 422
            )
        if debt.amount <= 0:
            return JSONResponse(
                {
                    "detail": [
                        {"field": "debtor_id", "message": "este devedor não tem faturas vencidas em aberto"}
                    ]
                },
                422,
            )
        return debt
    missing = [
        {"field": name, "message": "obrigatório (ou informe debtor_id)"}
        for name in ("amount", "days_overdue")
        if getattr(body, name) is None
    ]
    if missing:
        return JSONResponse({"detail": missing}, 422)
    assert body.amount is not None and body.days_overdue is not None
    return PreviewDebt(body.amount, body.days_overdue, body.segment)


@router.post("/preview")
def preview(body: PreviewIn, session: SessionDep, container: ContainerDep, user: StaffUser) -> Any:
    """The ladder under the draft (or the version in force); with a draft, also the ladder under
    the version in force beside it (``active``), so an admin sees the change before publishing."""
    today = local_today(container.clock)
    debt = _debt(body, session, today)
    if isinstance(debt, JSONResponse):
        return debt
    version, active = active_policy(session)
    session.commit()
    result: dict[str, Any] = {"debt": debt.view()}
    if body.policy is not None:
        draft = body.policy.to_domain()
        errors = validate_policy(draft)
        if errors:
            return _field_errors(InvalidPolicy(errors))
        result |= ladder_view(draft, debt, today)
        result["active"] = {"version": version.version, **ladder_view(active, debt, today)}
    else:
        result |= {"version": version.version, **ladder_view(active, debt, today)}
    return result


@router.post("/versions/{number}/rollback")
def rollback(number: int, session: SessionDep, container: ContainerDep, user: AdminUser) -> Any:
    """A new version with version ``number``'s content (history is never rewritten)."""
    try:
        version = roll_back(session, number, user.id)
    except UnknownVersion as exc:
        raise HTTPException(404, "versão não encontrada") from exc
    except InvalidPolicy as exc:  # an old version invalid under today's rules
        session.rollback()
        return _field_errors(exc)
    audit.record(session, user, "policy_rollback", "policy", version.version, container.clock.now(),
                 restored_from=number)  # fmt: skip
    session.commit()
    return version_view(version)
