"""FastAPI dependencies, as ``Annotated`` aliases used by the routers."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from server.container import Container
from server.db.models import Role, User
from server.security import InvalidToken, read_token
from server.services.users import get_active_user


def get_container(request: Request) -> Container:
    return request.app.state.container  # type: ignore[no-any-return]


ContainerDep = Annotated[Container, Depends(get_container)]


def get_session(container: ContainerDep) -> Iterator[Session]:
    with container.session_factory() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def require_service_token(
    container: ContainerDep, authorization: Annotated[str | None, Header()] = None
) -> None:
    """The action server authenticates with a shared service token (``Authorization: Bearer``)."""
    expected = container.settings.service_token.get_secret_value()
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(token.encode(), expected.encode()):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "service token missing or invalid")


ServiceAuth = Depends(require_service_token)


_bearer = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


def get_current_user(
    container: ContainerDep, session: SessionDep, token: Annotated[str | None, Depends(_bearer)]
) -> User:
    """The staff member behind the bearer token; 401 when missing, invalid, expired or inactive."""
    if not token:
        raise _unauthorized("não autenticado")
    try:
        claims = read_token(
            token, secret=container.settings.secret_key.get_secret_value(), now=container.clock.now()
        )
    except InvalidToken as exc:
        raise _unauthorized("sessão inválida ou expirada") from exc
    user = get_active_user(session, claims.sub)
    if user is None:
        raise _unauthorized("sessão inválida ou expirada")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def require_roles(*roles: Role) -> Callable[[User], User]:
    """A dependency admitting only these roles (403 otherwise); the role is read from the database."""
    allowed = frozenset(roles)

    def dependency(user: CurrentUser) -> User:
        if user.role not in allowed:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "permissão insuficiente")
        return user

    return dependency


StaffUser = Annotated[User, Depends(require_roles(Role.ADMIN, Role.COLLECTOR))]
AdminUser = Annotated[User, Depends(require_roles(Role.ADMIN))]
