"""Offer policy: the version in force, publishing a new one, history, preview."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import APIRouter
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
from server.services.policy import active_policy, publish_policy, versions

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
def put_policy(body: PolicyIn, session: SessionDep, user: AdminUser) -> Any:
    """Publish a new version; quotes already made keep the version they were made under."""
    try:
        version = publish_policy(session, body.to_domain(), user.id)
    except InvalidPolicy as exc:
        session.rollback()
        return _field_errors(exc)
    session.commit()
    return version_view(version)


@router.get("/versions")
def list_versions(session: SessionDep, user: StaffUser) -> list[dict[str, Any]]:
    result = [version_view(v) for v in versions(session)]
    session.commit()
    return result


class PreviewIn(BaseModel):
    amount: Decimal = Field(gt=0, max_digits=14, decimal_places=2)
    days_overdue: int = Field(ge=1, le=20000)
    segment: str | None = Field(default=None, max_length=80)
    policy: PolicyIn | None = None  # a draft; the version in force when omitted


@router.post("/preview")
def preview(body: PreviewIn, session: SessionDep, container: ContainerDep, user: StaffUser) -> Any:
    """The ladder of offers the bot would make, step by step, for a debt of this size and age."""
    if body.policy is not None:
        policy = body.policy.to_domain()
        errors = validate_policy(policy)
        if errors:
            return _field_errors(InvalidPolicy(errors))
    else:
        _, policy = active_policy(session)
        session.commit()
    today = local_today(container.clock)
    rule = policy.rule_for(body.days_overdue, body.segment, body.amount)
    guard = moves.opening(Situation(body.amount, rule, policy.ladder, today))
    steps: list[dict[str, Any]] = []
    if rule is not None and not guard.needs_human:
        for index in range(len(policy.ladder)):
            offer = make_offer(body.amount, rule, policy.ladder, index, today)
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
