"""Staff accounts (collectors and admins): creation and password authentication."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.db.models import Role, User
from server.security import (
    WeakPassword,
    check_password_policy,
    dummy_password_hash,
    hash_password,
    verify_password,
)

MAX_EMAIL_LENGTH = 254
# Deliberately loose: one "@", no spaces, a dot in the domain. Deliverability is not our concern.
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")

ROLE_LABELS = {Role.ADMIN: "administrador", Role.COLLECTOR: "cobrador"}


class UserError(ValueError):
    """A user cannot be created as asked; the message is meant for the operator."""


def normalize_email(email: str) -> str:
    normalized = email.strip().lower()
    if len(normalized) > MAX_EMAIL_LENGTH or not _EMAIL_RE.match(normalized):
        raise UserError(f"e-mail inválido: {email.strip() or '(vazio)'}")
    return normalized


def parse_role(role: str | Role) -> Role:
    try:
        return Role(role)
    except ValueError as exc:
        raise UserError(f"papel inválido: {role} (use admin ou collector)") from exc


def get_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == email.strip().lower()))


def get_active_user(session: Session, user_id: int) -> User | None:
    user = session.get(User, user_id)
    return user if user is not None and user.active else None


def create_user(session: Session, email: str, password: str, role: str | Role, name: str = "") -> User:
    """Adds and flushes the user; the caller commits. Raises ``UserError`` with a reason."""
    normalized = normalize_email(email)
    parsed_role = parse_role(role)
    try:
        check_password_policy(password)
    except WeakPassword as exc:
        raise UserError(str(exc)) from exc
    if get_by_email(session, normalized) is not None:
        raise UserError(_duplicate_message(normalized))
    user = User(
        email=normalized,
        name=name.strip(),
        password_hash=hash_password(password),
        role=parsed_role,
        active=True,
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError as exc:  # created concurrently, between our check and the insert
        session.rollback()
        raise UserError(_duplicate_message(normalized)) from exc
    return user


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The active user with these credentials, or ``None``.

    Verifies a hash even for unknown e-mails so response time does not reveal which exist.
    Upgrades an outdated hash in place; the caller commits.
    """
    user = get_by_email(session, email)
    if user is None:
        verify_password(dummy_password_hash(), password)
        return None
    check = verify_password(user.password_hash, password)
    if not check.ok or not user.active:
        return None
    if check.needs_rehash:
        user.password_hash = hash_password(password)
    return user


def _duplicate_message(email: str) -> str:
    return f"já existe um usuário com o e-mail {email}"
