"""FastAPI dependencies, as ``Annotated`` aliases used by the routers."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, status
from sqlalchemy.orm import Session

from server.container import Container


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
