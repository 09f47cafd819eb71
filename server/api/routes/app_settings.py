"""Admin API: settings that admins edit (hours, multa and juros, the creditor's identity).
Invalid input is a 422 with field errors and nothing is saved."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, HTTPException

from server.api.deps import AdminUser, ContainerDep, SessionDep
from server.domain.admin_settings import InvalidSettings, error_list, weekly_hours_to_dict
from server.services import app_settings as svc

router = APIRouter(prefix="/api/settings", tags=["settings"])

Section = Literal["working_hours", "contact_hours", "late_charges", "creditor"]


def all_settings(session: SessionDep, container: ContainerDep) -> dict[str, Any]:
    charges = svc.late_charges(session, container.settings)
    return {
        "working_hours": weekly_hours_to_dict(svc.working_hours(session)),
        "contact_hours": weekly_hours_to_dict(svc.contact_hours(session)),
        "late_charges": {k: str(v) for k, v in charges.__dict__.items()},
        "creditor": svc.creditor_identity(session, container.settings).to_dict(),
    }


@router.get("")
def get_settings(session: SessionDep, container: ContainerDep, admin: AdminUser) -> dict[str, Any]:
    result = all_settings(session, container)
    session.commit()  # the creditor row may have been created from the environment
    return result


def save_section(
    session: SessionDep, container: ContainerDep, admin: Any, section: Section, data: dict[str, Any]
) -> None:
    """Shared by the API and the admin pages. Raises ``InvalidSettings`` with nothing saved."""
    now, settings = container.clock.now(), container.settings
    try:
        if section in ("working_hours", "contact_hours"):
            svc.set_hours(session, section, data, admin, now)
        elif section == "late_charges":
            svc.set_late_charges(session, settings, data, admin, now)
        else:
            svc.set_creditor_identity(session, settings, data, admin, now)
    except InvalidSettings:
        session.rollback()
        raise
    session.commit()


@router.put("/{section}")
def put_section(
    section: Section, data: Annotated[dict[str, Any], Body()], session: SessionDep, container: ContainerDep,
    admin: AdminUser,
) -> dict[str, Any]:  # fmt: skip
    try:
        save_section(session, container, admin, section, data)
    except InvalidSettings as exc:
        raise HTTPException(422, error_list(exc.errors)) from exc
    return all_settings(session, container)[section]
