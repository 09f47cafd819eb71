from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher

from server.security import (
    InvalidToken,
    WeakPassword,
    check_password_policy,
    hash_password,
    issue_token,
    read_token,
    verify_password,
)

SECRET = "unit-test-secret"
NOW = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)
TTL = timedelta(minutes=480)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def token() -> str:
    return issue_token(7, "collector", secret=SECRET, now=NOW, ttl=TTL).access_token


# --- passwords ---------------------------------------------------------------------------------


def test_hash_and_verify() -> None:
    hashed = hash_password("correct horse battery")
    assert hashed.startswith("$argon2id$")
    assert "correct horse" not in hashed
    assert verify_password(hashed, "correct horse battery").ok
    assert not verify_password(hashed, "correct horse batterY").ok
    assert hash_password("correct horse battery") != hashed  # salted


def test_verify_reports_outdated_parameters() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("correct horse battery")
    check = verify_password(weak, "correct horse battery")
    assert check.ok and check.needs_rehash
    assert not verify_password(hash_password("correct horse battery"), "correct horse battery").needs_rehash


def test_verify_rejects_garbage_hash() -> None:
    assert not verify_password("not-a-hash", "whatever123").ok


def test_password_policy() -> None:
    check_password_policy("0123456789")
    with pytest.raises(WeakPassword, match="pelo menos 10 caracteres"):
        check_password_policy("012345678")


# --- tokens ------------------------------------------------------------------------------------


def test_token_round_trip() -> None:
    issued = issue_token(7, "collector", secret=SECRET, now=NOW, ttl=TTL)
    assert issued.expires_in == 480 * 60
    claims = read_token(issued.access_token, secret=SECRET, now=NOW)
    assert (claims.sub, claims.role, claims.exp, claims.ver) == (
        7,
        "collector",
        int(NOW.timestamp()) + 28800,
        1,
    )
    payload = json.loads(unb64(issued.access_token.split(".")[0]))
    assert payload == {"sub": 7, "role": "collector", "exp": claims.exp, "ver": 1}
    assert "=" not in issued.access_token and len(issued.access_token) < 150


def test_token_expires() -> None:
    read_token(token(), secret=SECRET, now=NOW + TTL - timedelta(seconds=1))
    with pytest.raises(InvalidToken):
        read_token(token(), secret=SECRET, now=NOW + TTL)


def test_tampered_payload_is_rejected() -> None:
    payload, signature = token().split(".")
    data = json.loads(unb64(payload))
    forged = b64(json.dumps({**data, "role": "admin"}, separators=(",", ":")).encode())
    with pytest.raises(InvalidToken):
        read_token(f"{forged}.{signature}", secret=SECRET, now=NOW)


def test_tampered_signature_is_rejected() -> None:
    payload, signature = token().split(".")
    flipped = bytearray(unb64(signature))
    flipped[0] ^= 1
    with pytest.raises(InvalidToken):
        read_token(f"{payload}.{b64(bytes(flipped))}", secret=SECRET, now=NOW)


def test_wrong_secret_is_rejected() -> None:
    with pytest.raises(InvalidToken):
        read_token(token(), secret="another-secret", now=NOW)


@pytest.mark.parametrize("bad", ["", ".", "abc", "abc.", ".abc", "a.b.c", "éé.éé", "Bearer x.y"])
def test_malformed_tokens_are_rejected(bad: str) -> None:
    with pytest.raises(InvalidToken):
        read_token(bad, secret=SECRET, now=NOW)


def test_signed_but_wrong_version_is_rejected() -> None:
    payload = b64(json.dumps({"sub": 7, "role": "admin", "exp": 2**40, "ver": 2}).encode())
    signature = b64(hmac.new(SECRET.encode(), payload.encode(), hashlib.sha256).digest())
    with pytest.raises(InvalidToken):
        read_token(f"{payload}.{signature}", secret=SECRET, now=NOW)
