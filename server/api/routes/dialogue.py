"""Internal API for the actions: handoffs, debtor flags, opt-out, recorded payments."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from server.api.deps import ContainerDep, ServiceAuth, SessionDep
from server.api.presenters import day, money
from server.db.models import Agreement, AgreementInstallment, Conversation, InstallmentStatus
from server.domain.conversation_state import InvalidTransition
from server.domain.working_hours import describe_hours, describe_opening
from server.services import identity
from server.services.app_settings import working_hours
from server.services.contacts import opt_out
from server.services.handoffs import REASONS, request_handoff

router = APIRouter(prefix="/internal/conversations", tags=["internal"], dependencies=[ServiceAuth])


class HandoffIn(BaseModel):
    reason: str = Field(min_length=1, max_length=40)
    note: str | None = Field(default=None, max_length=2000)


class FlagIn(BaseModel):
    flag: Literal["dispute", "legal_hold"]
    note: str | None = Field(default=None, max_length=2000)


def _conversation(session: SessionDep, public_id: str) -> Conversation:
    try:
        return identity.load_conversation(session, public_id)
    except identity.ConversationNotFound as exc:
        raise HTTPException(404, "conversa não encontrada") from exc


def _handoff_view(session: SessionDep, container: ContainerDep, conversation: Conversation, reason: str,
                  note: str | None) -> dict[str, Any]:  # fmt: skip
    try:
        result = request_handoff(session, conversation, reason, container.clock.now(), note)
    except InvalidTransition as exc:
        raise HTTPException(409, str(exc)) from exc
    session.commit()
    opening = result.next_opening
    return {
        "handoff_id": result.handoff.id,
        "reason": result.handoff.reason,
        "humans_available": result.humans_available,
        "next_opening": opening.isoformat(),
        "next_opening_display": describe_opening(opening),
        "working_hours_display": describe_hours(working_hours(session)),
    }


@router.post("/{public_id}/handoff")
def handoff(public_id: str, body: HandoffIn, session: SessionDep, container: ContainerDep) -> dict[str, Any]:
    if body.reason not in REASONS:
        raise HTTPException(422, f"motivo desconhecido: {body.reason}")
    return _handoff_view(session, container, _conversation(session, public_id), body.reason, body.note)


@router.post("/{public_id}/flags")
def set_flag(public_id: str, body: FlagIn, session: SessionDep, container: ContainerDep) -> Any:
    """A dispute or a legal situation stops automated collection and goes to a person."""
    try:
        conversation, contact = identity.verified_conversation(
            session, public_id, container.clock.now(), container.identity_policy
        )
    except identity.ConversationNotFound as exc:
        raise HTTPException(404, "conversa não encontrada") from exc
    except identity.DisclosureRefused:
        # Unverified: nothing is changed on any debtor, but a person still looks at it.
        conversation = _conversation(session, public_id)
        reason = "dispute" if body.flag == "dispute" else "legal_situation"
        return {**_handoff_view(session, container, conversation, reason, body.note), "flag_set": False}
    debtor = contact.debtor
    if body.flag == "dispute":
        debtor.in_dispute = True
        reason = "dispute"
    else:
        debtor.legal_hold = True
        reason = "legal_situation"
    return {**_handoff_view(session, container, conversation, reason, body.note), "flag_set": True}


@router.post("/{public_id}/opt-out")
def record_opt_out(public_id: str, session: SessionDep, container: ContainerDep) -> dict[str, int]:
    marked = opt_out(session, _conversation(session, public_id), container.clock.now())
    session.commit()
    return {"contacts": marked}


@router.get("/{public_id}/payments")
def recent_payments(public_id: str, session: SessionDep, container: ContainerDep) -> Any:
    """Payments recorded for the debtor in the last 60 days (for 'já paguei')."""
    now = container.clock.now()
    try:
        _, contact = identity.verified_conversation(session, public_id, now, container.identity_policy)
    except identity.ConversationNotFound as exc:
        raise HTTPException(404, "conversa não encontrada") from exc
    except identity.DisclosureRefused as exc:
        return JSONResponse({"detail": "identidade não verificada", "status": exc.status.value}, 403)
    stmt = (
        select(AgreementInstallment)
        .join(Agreement)
        .where(
            Agreement.debtor_id == contact.debtor_id,
            AgreementInstallment.status == InstallmentStatus.PAID,
            AgreementInstallment.paid_at >= now - timedelta(days=60),
        )
        .order_by(AgreementInstallment.paid_at.desc())
    )
    return {
        "payments": [
            {
                "amount": money(i.paid_amount or i.amount),
                "paid_on": day(i.paid_at.date()) if i.paid_at else None,
                "installment": i.number,
            }
            for i in session.scalars(stmt)
        ]
    }
