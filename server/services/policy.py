"""Offer policy versions: the one in force, publishing a new one, history."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.db.models import PolicyVersion
from server.domain.policy import (
    DEFAULT_POLICY,
    InvalidPolicy,
    OfferPolicy,
    policy_from_dict,
    policy_to_dict,
    validate_policy,
)


def active_policy(session: Session) -> tuple[PolicyVersion, OfferPolicy]:
    """The highest version; the documented default becomes version 1 on first use."""
    version = session.scalar(select(PolicyVersion).order_by(PolicyVersion.version.desc()).limit(1))
    if version is None:
        version = PolicyVersion(version=1, data=policy_to_dict(DEFAULT_POLICY))
        session.add(version)
        session.flush()
    return version, policy_from_dict(version.data)


def policy_of(version: PolicyVersion) -> OfferPolicy:
    return policy_from_dict(version.data)


def publish_policy(session: Session, policy: OfferPolicy, user_id: int | None) -> PolicyVersion:
    """Validate and store a new version (the caller commits; a concurrent publish of the same
    version number fails on the unique constraint rather than silently overwriting)."""
    errors = validate_policy(policy)
    if errors:
        raise InvalidPolicy(errors)
    active_policy(session)  # make sure version 1 exists before numbering the next
    current = session.scalar(select(func.max(PolicyVersion.version))) or 0
    version = PolicyVersion(version=current + 1, data=policy_to_dict(policy), created_by_id=user_id)
    session.add(version)
    session.flush()
    return version


def versions(session: Session) -> Sequence[PolicyVersion]:
    active_policy(session)
    return session.scalars(select(PolicyVersion).order_by(PolicyVersion.version.desc())).all()
