"""Staff login (OAuth2 password flow) and the current user."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from server.api.deps import ContainerDep, CurrentUser, SessionDep
from server.security import issue_token
from server.services import audit
from server.services.users import authenticate

router = APIRouter(prefix="/api/auth", tags=["auth"])


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int  # seconds


class MeOut(BaseModel):
    id: int
    email: str
    name: str
    role: str


@router.post("/token", response_model=TokenOut)
def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep, container: ContainerDep
) -> TokenOut:
    user = authenticate(session, form.username, form.password)
    now = container.clock.now()
    if user is None:
        audit.record(
            session, None, "login_failed", "user", form.username.strip().lower()[:64], now, channel="api"
        )
        session.commit()
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "e-mail ou senha inválidos", headers={"WWW-Authenticate": "Bearer"}
        )
    audit.record(session, user, "login", "user", user.id, now, channel="api")
    session.commit()  # keeps a password hash upgraded by authenticate()
    settings = container.settings
    issued = issue_token(
        user.id,
        user.role.value,
        secret=settings.secret_key.get_secret_value(),
        now=container.clock.now(),
        ttl=timedelta(minutes=settings.access_token_ttl_minutes),
    )
    return TokenOut(access_token=issued.access_token, expires_in=issued.expires_in)


@router.get("/me", response_model=MeOut)
def me(user: CurrentUser) -> MeOut:
    return MeOut(id=user.id, email=user.email, name=user.name, role=user.role.value)
