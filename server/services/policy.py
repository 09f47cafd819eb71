"""Offer policy versions: the one in force, publishing a new one, history."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
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
from server.domain.policy_diff import policy_diff


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


def publish_policy(
    session: Session, policy: OfferPolicy, user_id: int | None, restored_from: int | None = None
) -> PolicyVersion:
    """Validate and store a new version with its diff against the one in force (the caller
    commits; a concurrent publish of the same version number fails on the unique constraint
    rather than silently overwriting). Quotes already made keep the version they reference."""
    errors = validate_policy(policy)
    if errors:
        raise InvalidPolicy(errors)
    previous, previous_policy = active_policy(session)  # version 1 exists before numbering the next
    version = PolicyVersion(
        version=previous.version + 1,
        data=policy_to_dict(policy),
        created_by_id=user_id,
        diff=policy_diff(previous_policy, policy),
        restored_from=restored_from,
    )
    session.add(version)
    session.flush()
    return version


class UnknownVersion(LookupError):
    pass


def version_by_number(session: Session, number: int) -> PolicyVersion | None:
    return session.scalar(select(PolicyVersion).where(PolicyVersion.version == number))


def roll_back(session: Session, number: int, user_id: int | None) -> PolicyVersion:
    """A rollback is a new version with an earlier version's content (history stays linear)."""
    target = version_by_number(session, number)
    if target is None:
        raise UnknownVersion(number)
    return publish_policy(session, policy_from_dict(target.data), user_id, restored_from=number)


def versions(session: Session) -> Sequence[PolicyVersion]:
    active_policy(session)
    return session.scalars(select(PolicyVersion).order_by(PolicyVersion.version.desc())).all()
