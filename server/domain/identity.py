"""Identity check before disclosure (LGPD): the sender confirms the debtor's CNPJ root.

A recycled phone number must not learn another company's debts, so a registered phone alone is
not enough. Failures are counted per sender; after the limit disclosure is locked.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass


class IdentityStatus(enum.StrEnum):
    UNKNOWN = "unknown"  # the phone belongs to no registered contact
    UNVERIFIED = "unverified"
    VERIFIED = "verified"
    LOCKED = "locked"


class VerificationOutcome(enum.StrEnum):
    VERIFIED = "verified"
    MISMATCH = "mismatch"  # a well-formed root that is not the debtor's: counts as a failure
    INVALID = "invalid"  # no root in the text: asked again, not a failure
    LOCKED = "locked"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class VerificationDecision:
    outcome: VerificationOutcome
    failures: int
    attempts_left: int
    contact_id: int | None = None


def decide_verification(
    typed_root: str | None,
    roots_to_contacts: Mapping[str, int],
    failures: int,
    max_attempts: int,
    locked: bool,
) -> VerificationDecision:
    """Judge one answer. ``roots_to_contacts`` maps the CNPJ roots of the sender's candidate
    contacts (one phone may serve several debtors, e.g. an accountant) to the contact ids."""
    if locked:
        return VerificationDecision(VerificationOutcome.LOCKED, failures, 0)
    if not roots_to_contacts:
        return VerificationDecision(VerificationOutcome.UNKNOWN, failures, 0)
    if typed_root is None:
        return VerificationDecision(VerificationOutcome.INVALID, failures, max_attempts - failures)
    contact_id = roots_to_contacts.get(typed_root.upper())
    if contact_id is not None:
        return VerificationDecision(
            VerificationOutcome.VERIFIED, failures, max_attempts - failures, contact_id
        )
    failures += 1
    if failures >= max_attempts:
        return VerificationDecision(VerificationOutcome.LOCKED, failures, 0)
    return VerificationDecision(VerificationOutcome.MISMATCH, failures, max_attempts - failures)
