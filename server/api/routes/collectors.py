"""Admin API: collector authority (the global default and per-collector overrides)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from server.api.deps import AdminUser, ContainerDep, SessionDep, StaffUser
from server.api.staff_schemas import AuthorityIn, AuthorityOut
from server.db.models import Role, User
from server.domain.collector_authority import Authority
from server.domain.policy import InvalidPolicy
from server.services import audit
from server.services.collector_authority import authority_for, set_authority

router = APIRouter(prefix="/api/collector-authority", tags=["collectors"])


def _out(authority: Authority, user_id: int | None) -> AuthorityOut:
    return AuthorityOut(user_id=user_id, **authority.__dict__)


def _collector(session: SessionDep, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None or user.role != Role.COLLECTOR:
        raise HTTPException(404, "cobrador não encontrado")
    return user


@router.get("/me", response_model=AuthorityOut)
def mine(session: SessionDep, container: ContainerDep, user: StaffUser) -> AuthorityOut:
    return _out(authority_for(session, user, container.settings), user.id)


def _put(
    session: SessionDep, container: ContainerDep, admin: User, user_id: int | None, body: AuthorityIn
) -> AuthorityOut:
    authority = Authority(**body.model_dump())
    now = container.clock.now()
    try:
        set_authority(session, user_id, authority, admin, now)
    except InvalidPolicy as exc:
        raise HTTPException(422, [{"field": e.field, "message": e.message} for e in exc.errors]) from exc
    audit.record(session, admin, "set_authority", "user" if user_id else "settings", user_id or "global", now,
                 **body.model_dump())  # fmt: skip
    session.commit()
    return _out(authority, user_id)


@router.get("", response_model=AuthorityOut)
def get_global(session: SessionDep, container: ContainerDep, admin: AdminUser) -> AuthorityOut:
    return _out(authority_for(session, None, container.settings), None)


@router.put("", response_model=AuthorityOut)
def put_global(
    body: AuthorityIn, session: SessionDep, container: ContainerDep, admin: AdminUser
) -> AuthorityOut:
    return _put(session, container, admin, None, body)


@router.get("/{user_id}", response_model=AuthorityOut)
def get_user(user_id: int, session: SessionDep, container: ContainerDep, admin: AdminUser) -> AuthorityOut:
    return _out(authority_for(session, _collector(session, user_id), container.settings), user_id)


@router.put("/{user_id}", response_model=AuthorityOut)
def put_user(
    user_id: int, body: AuthorityIn, session: SessionDep, container: ContainerDep, admin: AdminUser
) -> AuthorityOut:
    _collector(session, user_id)
    return _put(session, container, admin, user_id, body)
