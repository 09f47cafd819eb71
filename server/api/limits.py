"""Per-sender abuse limit for the inbound routes (the per-IP one is a middleware)."""

from __future__ import annotations

from fastapi import HTTPException

from server import metrics
from server.container import Container
from server.services.request_limits import SENDER_REASON, Limit, RateLimited, check


def enforce_sender_limit(container: Container, sender: str) -> None:
    """429 with Retry-After when ``sender`` (a phone number or ``tg:<user id>``) writes too often,
    counted across channels and server workers."""
    settings = container.settings
    if not settings.rate_limit_enabled:
        return
    try:
        check(container.request_limiter, f"sender:{sender}",
              Limit(settings.rate_limit_sender_per_minute, 60), SENDER_REASON)  # fmt: skip
    except RateLimited as exc:
        metrics.RATE_LIMITED.labels("sender").inc()
        raise HTTPException(429, exc.reason, headers={"Retry-After": exc.retry_after_header}) from exc
