"""Staff API: the handoff queue, claim, release (back to the bot) and close."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException

from server.api.deps import ContainerDep, SessionDep, StaffUser
from server.api.staff_presenters import handoff_out
from server.api.staff_schemas import HandoffOut
from server.clock import local_today
from server.services import collector_actions
from server.services.console_views import queue
from server.services.handoffs import HandoffError

router = APIRouter(prefix="/api/handoffs", tags=["handoffs"])


@router.get("", response_model=list[HandoffOut])
def list_handoffs(
    session: SessionDep,
    container: ContainerDep,
    user: StaffUser,
    state: Literal["waiting_human", "with_human", "closed"] = "waiting_human",
) -> list[HandoffOut]:
    """Waiting handoffs come longest wait first, then largest amount."""
    return [handoff_out(i.handoff, i) for i in queue(session, state, local_today(container.clock))]


@router.post("/{handoff_id}/claim", response_model=HandoffOut)
def claim(handoff_id: int, session: SessionDep, container: ContainerDep, user: StaffUser) -> HandoffOut:
    try:
        return handoff_out(collector_actions.claim(container, session, handoff_id, user))
    except HandoffError as exc:
        raise HTTPException(exc.status, str(exc)) from exc


def _resolve(
    handoff_id: int, session: SessionDep, container: ContainerDep, user: StaffUser, close: bool
) -> HandoffOut:
    try:
        return handoff_out(collector_actions.resolve(container, session, handoff_id, user, close=close))
    except HandoffError as exc:
        raise HTTPException(exc.status, str(exc)) from exc


@router.post("/{handoff_id}/release", response_model=HandoffOut)
def release(handoff_id: int, session: SessionDep, container: ContainerDep, user: StaffUser) -> HandoffOut:
    """Back to the bot, its tracker brought up to date (no stale form, agreement known)."""
    return _resolve(handoff_id, session, container, user, close=False)


@router.post("/{handoff_id}/close", response_model=HandoffOut)
def close(handoff_id: int, session: SessionDep, container: ContainerDep, user: StaffUser) -> HandoffOut:
    return _resolve(handoff_id, session, container, user, close=True)
