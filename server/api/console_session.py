"""Console sessions: a signed, expiring token in an HttpOnly, SameSite=Lax cookie, and CSRF
tokens bound to it (HMAC of the session), checked on every POST.

Before login there is no session, so the login form's CSRF token is bound to a random nonce in a
short-lived cookie of its own.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Form, Header, HTTPException, Request, Response, status
from sqlalchemy.orm import Session

from server.api.deps import ContainerDep, SessionDep
from server.container import Container
from server.db.models import Role, User
from server.security import InvalidToken, issue_token, read_token
from server.services.users import get_active_user

SESSION_COOKIE = "negocia_console"
LOGIN_NONCE_COOKIE = "negocia_login"
LOGIN_PATH = "/console/login"


def _secret(container: Container) -> str:
    return container.settings.secret_key.get_secret_value()


def _mac(container: Container, purpose: str, value: str) -> str:
    return hmac.new(_secret(container).encode(), f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def _secure(container: Container) -> bool:
    return (container.settings.public_base_url or "").startswith("https://")


def start_session(container: Container, response: Response, user: User) -> None:
    ttl = timedelta(minutes=container.settings.console_session_minutes)
    issued = issue_token(
        user.id, user.role.value, secret=_secret(container), now=container.clock.now(), ttl=ttl
    )
    response.set_cookie(
        SESSION_COOKIE, issued.access_token, max_age=issued.expires_in, httponly=True, samesite="lax",
        secure=_secure(container), path="/",  # /console and /admin share the staff session
    )  # fmt: skip
    response.delete_cookie(LOGIN_NONCE_COOKIE, path=LOGIN_PATH)


def end_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


def login_nonce(request: Request) -> str:
    return request.cookies.get(LOGIN_NONCE_COOKIE) or secrets.token_urlsafe(24)


def login_csrf(container: Container, nonce: str) -> str:
    """The login form's CSRF token, bound to the nonce cookie."""
    return _mac(container, "login", nonce)


def set_login_nonce(container: Container, response: Response, nonce: str) -> None:
    response.set_cookie(LOGIN_NONCE_COOKIE, nonce, max_age=3600, httponly=True, samesite="lax",
                        secure=_secure(container), path=LOGIN_PATH)  # fmt: skip


def check_login_csrf(container: Container, request: Request, token: str) -> None:
    nonce = request.cookies.get(LOGIN_NONCE_COOKIE)
    if not nonce or not hmac.compare_digest(token, _mac(container, "login", nonce)):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "token CSRF ausente ou inválido")


class LoginRequired(HTTPException):
    """Raised by the console's dependencies: the browser is sent to the login page."""

    def __init__(self) -> None:
        super().__init__(status.HTTP_303_SEE_OTHER, "faça login", headers={"Location": LOGIN_PATH})


def _session_user(container: Container, session: Session, request: Request) -> tuple[User, str]:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise LoginRequired()
    try:
        claims = read_token(cookie, secret=_secret(container), now=container.clock.now())
    except InvalidToken as exc:
        raise LoginRequired() from exc
    user = get_active_user(session, claims.sub)
    if user is None or user.role not in (Role.ADMIN, Role.COLLECTOR):
        raise LoginRequired()
    return user, cookie


class ConsoleSession:
    def __init__(self, user: User, csrf: str) -> None:
        self.user = user
        self.csrf = csrf


def console_session(container: ContainerDep, session: SessionDep, request: Request) -> ConsoleSession:
    """The logged-in staff member; expired or missing sessions redirect to the login page."""
    user, cookie = _session_user(container, session, request)
    return ConsoleSession(user, _mac(container, "csrf", cookie))


ConsoleDep = Annotated[ConsoleSession, Depends(console_session)]


def checked_post(
    console: ConsoleDep,
    csrf_token: Annotated[str | None, Form()] = None,
    x_csrf_token: Annotated[str | None, Header()] = None,
) -> ConsoleSession:
    """For every console POST: the session plus a matching CSRF token (form field or header)."""
    token = csrf_token or x_csrf_token or ""
    if not hmac.compare_digest(token, console.csrf):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "token CSRF ausente ou inválido")
    return console


PostDep = Annotated[ConsoleSession, Depends(checked_post)]
