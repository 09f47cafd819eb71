from server.domain.identity import VerificationOutcome, decide_verification

ROOTS = {"12345678": 1, "12ABC345": 2}


def test_matching_root_verifies_the_right_contact() -> None:
    d = decide_verification("12ABC345", ROOTS, failures=1, max_attempts=3, locked=False)
    assert d.outcome == VerificationOutcome.VERIFIED and d.contact_id == 2


def test_lowercase_alphanumeric_root_matches() -> None:
    assert decide_verification("12abc345", ROOTS, 0, 3, False).outcome == VerificationOutcome.VERIFIED


def test_no_root_in_text_is_not_a_failure() -> None:
    d = decide_verification(None, ROOTS, failures=2, max_attempts=3, locked=False)
    assert d.outcome == VerificationOutcome.INVALID and d.failures == 2


def test_three_mismatches_lock() -> None:
    failures = 0
    outcomes = []
    for _ in range(3):
        d = decide_verification("99999999", ROOTS, failures, 3, False)
        failures = d.failures
        outcomes.append((d.outcome, d.attempts_left))
    assert outcomes == [
        (VerificationOutcome.MISMATCH, 2),
        (VerificationOutcome.MISMATCH, 1),
        (VerificationOutcome.LOCKED, 0),
    ]


def test_locked_stays_locked_even_with_the_right_root() -> None:
    d = decide_verification("12345678", ROOTS, 3, 3, locked=True)
    assert d.outcome == VerificationOutcome.LOCKED and d.contact_id is None


def test_unknown_sender_learns_nothing() -> None:
    d = decide_verification("12345678", {}, 0, 3, False)
    assert d.outcome == VerificationOutcome.UNKNOWN and d.contact_id is None
