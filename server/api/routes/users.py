"""Admin API: staff accounts."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from server.api.deps import AdminUser, ContainerDep, SessionDep
from server.db.models import User
from server.services.user_admin import add_user, list_users, reset_password, set_active
from server.services.users import UserError

router = APIRouter(prefix="/api/users", tags=["users"])


class UserOut(BaseModel):
    id: int
    email: str
    name: str
    role: str
    active: bool


class UserIn(BaseModel):
    email: str = Field(max_length=254)
    name: str = Field(default="", max_length=200)
    role: Literal["admin", "collector"]
    password: str = Field(max_length=1024)


class PasswordIn(BaseModel):
    password: str = Field(max_length=1024)


def _out(u: User) -> UserOut:
    return UserOut(id=u.id, email=u.email, name=u.name, role=u.role.value, active=u.active)


def _user(session: SessionDep, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise HTTPException(404, "usuário não encontrado")
    return user


def _fail(session: SessionDep, field: str, exc: UserError) -> HTTPException:
    session.rollback()
    return HTTPException(422, [{"field": field, "message": str(exc)}])


@router.get("", response_model=list[UserOut])
def get_users(session: SessionDep, admin: AdminUser) -> list[UserOut]:
    return [_out(u) for u in list_users(session)]


@router.post("", response_model=UserOut, status_code=201)
def post_user(body: UserIn, session: SessionDep, container: ContainerDep, admin: AdminUser) -> UserOut:
    try:
        user = add_user(
            session, admin, body.email, body.password, body.role, body.name, container.clock.now()
        )
    except UserError as exc:
        field = "password" if "senha" in str(exc) else "email"
        raise _fail(session, field, exc) from exc
    session.commit()
    return _out(user)


def _toggle(user_id: int, active: bool, session: SessionDep, container: ContainerDep, admin: User) -> UserOut:
    user = _user(session, user_id)
    try:
        set_active(session, admin, user, active, container.clock.now())
    except UserError as exc:
        raise _fail(session, "active", exc) from exc
    session.commit()
    return _out(user)


@router.post("/{user_id}/disable", response_model=UserOut)
def disable(user_id: int, session: SessionDep, container: ContainerDep, admin: AdminUser) -> UserOut:
    return _toggle(user_id, False, session, container, admin)


@router.post("/{user_id}/enable", response_model=UserOut)
def enable(user_id: int, session: SessionDep, container: ContainerDep, admin: AdminUser) -> UserOut:
    return _toggle(user_id, True, session, container, admin)


@router.post("/{user_id}/password", response_model=UserOut)
def password(
    user_id: int, body: PasswordIn, session: SessionDep, container: ContainerDep, admin: AdminUser
) -> UserOut:
    user = _user(session, user_id)
    try:
        reset_password(session, admin, user, body.password, container.clock.now())
    except UserError as exc:
        raise _fail(session, "password", exc) from exc
    session.commit()
    return _out(user)
