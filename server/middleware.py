"""HTTP edge: request ids, request metrics, body size limit, per-IP rate limits and security
headers. Plain ASGI middlewares (no buffering of responses, streaming responses untouched)."""

from __future__ import annotations

import logging
import re
import secrets
import time
import uuid
from typing import Any

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server import metrics
from server.logging_setup import request_id_var
from server.services.request_limits import IP_REASON, Limit, RateLimited, check

log = logging.getLogger("negocia.http")

REQUEST_ID_HEADER = "x-request-id"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
SANDBOX_PATH = "/channels/sandbox/messages"
WEBHOOK_PATHS = frozenset(
    {"/channels/whatsapp", "/channels/whatsapp/status", "/channels/telegram", "/webhooks/pix"}
)
# Swagger UI and ReDoc load their scripts from a CDN with inline bootstrapping: no page CSP there.
_NO_CSP_PATHS = ("/docs", "/redoc")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def _route_of(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


class RequestContextMiddleware:
    """X-Request-ID in (kept when sane) or generated, echoed on the response, set in the logging
    context; one access-log line and the request metrics per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, REQUEST_ID_HEADER.encode())
        request_id = given if given and _SAFE_REQUEST_ID.match(given) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        status = 500
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - start
            route = _route_of(scope)
            if route == "unmatched" and scope.get("path") in metrics.WEBHOOK_ROUTES:
                route = scope["path"]  # refused before routing (429, 413)
            metrics.HTTP_REQUESTS.labels(route, scope.get("method", ""), str(status)).inc()
            metrics.HTTP_LATENCY.labels(route).observe(elapsed)
            if route in metrics.WEBHOOK_ROUTES:
                metrics.WEBHOOK_REQUESTS.labels(route, str(status)).inc()
            if route != "/metrics":
                log.info(
                    "%s %s %s", scope.get("method"), scope.get("path"), status,
                    extra={"status": status, "duration_ms": round(elapsed * 1000, 1), "route": route},
                )  # fmt: skip
            request_id_var.reset(token)


class BodySizeLimitMiddleware:
    """413 for any request body above ``max_bytes`` (declared or streamed); routes may be tighter."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        reason = f"corpo da requisição acima do limite de {self.max_bytes} bytes"
        declared = _header(scope, b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > self.max_bytes:
            await JSONResponse({"detail": reason}, status_code=413)(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, reason)
            return message

        await self.app(scope, limited_receive, send)


class IpRateLimitMiddleware:
    """Per-client-IP limits on the webhooks and the sandbox, before any body is read. The client IP
    is uvicorn's (``--forwarded-allow-ips`` makes it the proxy's X-Forwarded-For)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        is_webhook = path in WEBHOOK_PATHS
        if not (is_webhook or path == SANDBOX_PATH):
            await self.app(scope, receive, send)
            return
        container = getattr(scope["app"].state, "container", None)
        if container is None or not container.settings.rate_limit_enabled:
            await self.app(scope, receive, send)
            return
        settings = container.settings
        per_minute = (
            settings.rate_limit_ip_webhook_per_minute
            if is_webhook
            else settings.rate_limit_ip_sandbox_per_minute
        )
        client = scope.get("client")
        ip = client[0] if client else "unknown"
        scope_key = "webhook" if is_webhook else "sandbox"
        try:
            check(container.request_limiter, f"ip:{scope_key}:{ip}", Limit(per_minute, 60), IP_REASON)
        except RateLimited as exc:
            metrics.RATE_LIMITED.labels("ip").inc()
            response = JSONResponse(
                {"detail": exc.reason}, status_code=429, headers={"Retry-After": exc.retry_after_header}
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def content_security_policy(nonce: str) -> str:
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' 'nonce-{nonce}'",
            "style-src 'self' 'unsafe-inline'",  # style attributes in the templates; no script risk
            "img-src 'self' data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


class SecurityHeadersMiddleware:
    """nosniff, no framing, no referrer on every response; a nonce-based CSP on HTML pages (inline
    scripts carry ``nonce="{{ request.state.csp_nonce }}"``); HSTS when served over https."""

    def __init__(self, app: ASGIApp, hsts: bool = False) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nonce = secrets.token_urlsafe(16)
        state: dict[str, Any] = scope.setdefault("state", {})
        state["csp_nonce"] = nonce
        https = self.hsts or scope.get("scheme") == "https"
        path = scope.get("path", "")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                extra = [
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"),
                ]
                content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if content_type.startswith(b"text/html") and not path.startswith(_NO_CSP_PATHS):
                    extra.append((b"content-security-policy", content_security_policy(nonce).encode()))
                if https:
                    extra.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
                headers += [(k, v) for k, v in extra if k not in names]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
