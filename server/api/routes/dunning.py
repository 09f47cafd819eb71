"""Dunning rules (admins edit them; collectors read), the template catalogue, the schedule and
its KPIs."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from server.api.deps import AdminUser, ContainerDep, SessionDep, StaffUser
from server.db.models import DunningRulesVersion, ScheduledReminder
from server.domain.dunning import (
    BrokenAction,
    DunningRules,
    DunningStep,
    InvalidDunningRules,
    StepConditions,
    Target,
)
from server.services.dunning import active_rules, dunning_kpis, publish_rules, rule_versions

router = APIRouter(prefix="/api/dunning", tags=["dunning"])


class ConditionsIn(BaseModel):
    min_amount: Decimal | None = Field(default=None, max_digits=14, decimal_places=2, ge=0)
    max_amount: Decimal | None = Field(default=None, max_digits=14, decimal_places=2, ge=0)
    segments: list[str] = Field(default_factory=list, max_length=50)


class StepIn(BaseModel):
    id: str = Field(min_length=1, max_length=40)
    target: Literal["invoice", "installment"]
    offset_days: int
    template: str = Field(min_length=1, max_length=80)
    text: str = Field(min_length=1, max_length=1500)
    conditions: ConditionsIn = Field(default_factory=ConditionsIn)


class RulesIn(BaseModel):
    steps: list[StepIn] = Field(max_length=50)
    daily_cap: int = 2
    weekly_cap: int = 4
    send_hour: int = 9
    max_delay_days: int = 3
    broken_after_days: int = 10
    broken_action: Literal["renegotiate", "handoff"] = "renegotiate"
    renegotiation_template: str = Field(default="negocia_renegociacao", max_length=80)
    renegotiation_text: str = Field(min_length=1, max_length=1500)

    def to_domain(self) -> DunningRules:
        return DunningRules(
            steps=tuple(
                DunningStep(
                    s.id, Target(s.target), s.offset_days, s.template, s.text,
                    StepConditions(s.conditions.min_amount, s.conditions.max_amount, tuple(s.conditions.segments)),
                )
                for s in self.steps
            ),
            daily_cap=self.daily_cap, weekly_cap=self.weekly_cap, send_hour=self.send_hour,
            max_delay_days=self.max_delay_days, broken_after_days=self.broken_after_days,
            broken_action=BrokenAction(self.broken_action), renegotiation_template=self.renegotiation_template,
            renegotiation_text=self.renegotiation_text,
        )  # fmt: skip


def version_view(version: DunningRulesVersion) -> dict[str, Any]:
    return {
        "version": version.version,
        "created_at": version.created_at.isoformat(),
        "created_by_id": version.created_by_id,
        "rules": version.data,
    }


@router.get("/rules")
def get_rules(session: SessionDep, _user: StaffUser) -> dict[str, Any]:
    version, _ = active_rules(session)
    session.commit()
    return version_view(version)


@router.put("/rules", response_model=None)
def put_rules(
    body: RulesIn, session: SessionDep, container: ContainerDep, user: AdminUser
) -> dict[str, Any] | JSONResponse:
    """A new version; 422 with one entry per invalid field (texts must name the creditor and
    may not threaten; templates must be in the approved catalogue)."""
    try:
        version = publish_rules(session, body.to_domain(), container.catalogue, user.id)
    except InvalidDunningRules as exc:
        return JSONResponse({"detail": [{"field": e.field, "message": e.message} for e in exc.errors]}, 422)
    session.commit()
    return version_view(version)


@router.get("/rules/versions")
def get_versions(session: SessionDep, _user: StaffUser) -> list[dict[str, Any]]:
    rows = rule_versions(session)
    session.commit()
    return [version_view(v) for v in rows]


@router.get("/templates")
def get_templates(container: ContainerDep, _user: StaffUser) -> list[dict[str, Any]]:
    return [
        {"key": t.key, "content_sid": t.content_sid, "variables": t.variables, "body": t.body}
        for t in container.catalogue.values()
    ]


@router.get("/reminders")
def get_reminders(
    session: SessionDep,
    _user: StaffUser,
    status: str | None = Query(default=None, max_length=20),
    limit: int = Query(default=100, ge=1, le=1000),
) -> list[dict[str, Any]]:
    stmt = select(ScheduledReminder).order_by(ScheduledReminder.due_at.desc()).limit(limit)
    if status:
        stmt = stmt.where(ScheduledReminder.status == status)
    return [
        {"id": r.id, "key": r.idempotency_key, "target": r.target, "step": r.step_id, "contact_id": r.contact_id,
         "due_at": r.due_at.isoformat(), "status": r.status, "reason": r.reason, "channel": r.channel,
         "sent_at": r.sent_at.isoformat() if r.sent_at else None}
        for r in session.scalars(stmt)
    ]  # fmt: skip


@router.get("/kpis")
def get_kpis(session: SessionDep, _user: StaffUser) -> dict[str, Any]:
    return dunning_kpis(session)
