"""Admins manage staff accounts: create, disable/enable, reset passwords (all audit-logged)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import Role, User
from server.security import WeakPassword, check_password_policy, hash_password
from server.services import audit
from server.services.users import UserError, create_user


def list_users(session: Session) -> Sequence[User]:
    return session.scalars(select(User).order_by(User.role, User.email)).all()


def add_user(
    session: Session, admin: User, email: str, password: str, role: str, name: str, now: datetime
) -> User:
    user = create_user(session, email, password, role, name)
    audit.record(session, admin, "create_user", "user", user.id, now, email=user.email, role=user.role.value)
    return user


def set_active(session: Session, admin: User, user: User, active: bool, now: datetime) -> User:
    if user.id == admin.id and not active:
        raise UserError("você não pode desativar a sua própria conta")
    if not active and user.role == Role.ADMIN and user.active:
        others = session.scalars(
            select(User.id).where(User.role == Role.ADMIN, User.active.is_(True), User.id != user.id)
        ).first()
        if others is None:
            raise UserError("é preciso manter ao menos um administrador ativo")
    user.active = active
    audit.record(
        session, admin, "enable_user" if active else "disable_user", "user", user.id, now, email=user.email
    )
    return user


def reset_password(session: Session, admin: User, user: User, password: str, now: datetime) -> User:
    """Takes effect at the next login; sessions already open last until they expire."""
    try:
        check_password_policy(password)
    except WeakPassword as exc:
        raise UserError(str(exc)) from exc
    user.password_hash = hash_password(password)
    audit.record(session, admin, "reset_password", "user", user.id, now, email=user.email)
    return user
