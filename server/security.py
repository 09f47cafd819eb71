"""Staff credentials: argon2 password hashes and stateless HMAC-signed bearer tokens.

A token is ``<payload>.<signature>``, both URL-safe base64 without padding; the payload is the
compact JSON ``{"sub": user_id, "role": ..., "exp": unix_ts, "ver": TOKEN_VERSION}`` and the
signature is HMAC-SHA256 of the encoded payload under the ``NEGOCIA_SECRET_KEY``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import TypeGuard

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD_LENGTH = 10
# Bumped when the payload format changes, so tokens of the old format stop being accepted.
TOKEN_VERSION = 1

_hasher = PasswordHasher()


class WeakPassword(ValueError):
    """The password does not meet the policy; the message is meant for the user."""


class InvalidToken(Exception):
    """Malformed, forged, expired or otherwise unusable bearer token."""


@dataclass(frozen=True)
class PasswordCheck:
    ok: bool
    needs_rehash: bool = False


@dataclass(frozen=True)
class TokenClaims:
    sub: int
    role: str
    exp: int
    ver: int = TOKEN_VERSION


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int  # seconds


def check_password_policy(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"a senha deve ter pelo menos {MIN_PASSWORD_LENGTH} caracteres")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> PasswordCheck:
    """Checks the password; ``needs_rehash`` says the hash uses outdated parameters."""
    try:
        _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return PasswordCheck(ok=False)
    return PasswordCheck(ok=True, needs_rehash=_hasher.check_needs_rehash(password_hash))


@cache
def dummy_password_hash() -> str:
    """A real hash to verify against when the user is unknown, so both paths cost the same."""
    return hash_password("not-a-real-password-only-for-timing")


def issue_token(user_id: int, role: str, *, secret: str, now: datetime, ttl: timedelta) -> IssuedToken:
    lifetime = int(ttl.total_seconds())
    claims = TokenClaims(sub=user_id, role=role, exp=int(now.timestamp()) + lifetime)
    payload = json.dumps(
        {"sub": claims.sub, "role": claims.role, "exp": claims.exp, "ver": claims.ver},
        separators=(",", ":"),
    ).encode()
    encoded = _b64encode(payload)
    return IssuedToken(access_token=f"{encoded}.{_sign(encoded, secret)}", expires_in=lifetime)


def read_token(token: str, *, secret: str, now: datetime) -> TokenClaims:
    """The claims of a genuine, unexpired token; raises ``InvalidToken`` otherwise."""
    encoded, sep, signature = token.partition(".")
    if not sep or not encoded or not signature:
        raise InvalidToken("malformed token")
    if not hmac.compare_digest(signature.encode(), _sign(encoded, secret).encode()):
        raise InvalidToken("bad signature")
    claims = _parse_claims(encoded)
    if claims.exp <= now.timestamp():
        raise InvalidToken("expired")
    return claims


def _parse_claims(encoded: str) -> TokenClaims:
    try:
        data = json.loads(_b64decode(encoded))
    except (ValueError, binascii.Error) as exc:
        raise InvalidToken("malformed payload") from exc
    if not isinstance(data, dict):
        raise InvalidToken("malformed payload")
    sub, role, exp, ver = data.get("sub"), data.get("role"), data.get("exp"), data.get("ver")
    if ver != TOKEN_VERSION:
        raise InvalidToken("unsupported token version")
    if not _is_int(sub) or not _is_int(exp) or not isinstance(role, str):
        raise InvalidToken("malformed claims")
    return TokenClaims(sub=sub, role=role, exp=exp, ver=ver)


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _sign(encoded_payload: str, secret: str) -> str:
    digest = hmac.new(secret.encode(), encoded_payload.encode(), hashlib.sha256).digest()
    return _b64encode(digest)


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
