"""Signed, expiring links: what the debtor (and WhatsApp, which fetches media by URL) may open
without logging in, e.g. the term PDF.

The signature is an HMAC-SHA256 over the path and the expiry, so neither can be changed without
the secret; the query string is ``exp=<unix seconds>&sig=<URL-safe base64, no padding>``.
Pure: the caller supplies the secret and the current time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import urlencode


class InvalidLink(ValueError):
    """The link cannot be honoured; the subclasses say why."""


class LinkExpired(InvalidLink):
    pass


class BadSignature(InvalidLink):
    pass


def _signature(path: str, expires_at: int, secret: bytes) -> str:
    digest = hmac.new(secret, f"{path}\n{expires_at}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def sign_path(path: str, expires_at: int, secret: bytes) -> str:
    """The query string (without ``?``) that makes ``path`` openable until ``expires_at``."""
    if not secret:
        raise ValueError("signing secret must not be empty")
    return urlencode({"exp": str(expires_at), "sig": _signature(path, expires_at, secret)})


def verify(path: str, exp: str, sig: str, secret: bytes, now: int) -> None:
    """Raise BadSignature for a forged or altered link, LinkExpired for a genuine but old one."""
    if not secret:
        raise ValueError("signing secret must not be empty")
    # Only canonical decimal expiries: "0170..." or "+170..." would verify the same number
    # under a different spelling.
    if not exp.isascii() or not exp.isdigit() or (len(exp) > 1 and exp.startswith("0")):
        raise BadSignature("invalid expiry")
    expires_at = int(exp)
    expected = _signature(path, expires_at, secret)
    if not hmac.compare_digest(expected.encode("ascii"), sig.encode("utf-8", "replace")):
        raise BadSignature("signature does not match")
    if now >= expires_at:
        raise LinkExpired("link expired")


def signed_url(base_url: str, path: str, ttl_s: int, secret: bytes, now: int) -> str:
    """``base_url`` + ``path`` + the signed query, valid for ``ttl_s`` seconds from ``now``."""
    if not path.startswith("/"):
        raise ValueError("path must start with '/'")
    return f"{base_url.rstrip('/')}{path}?{sign_path(path, now + ttl_s, secret)}"
