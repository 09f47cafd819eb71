"""FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from bot.retrier import PendingRetrier
from server.api.routes import (
    admin,
    agreements,
    app_settings,
    auth,
    collectors,
    console,
    conversations,
    dialogue,
    dunning,
    handoffs,
    health,
    internal,
    kpis,
    media,
    metrics,
    negotiation,
    payments,
    policy,
    sandbox,
    telegram,
    users,
    web,
    whatsapp,
)
from server.container import Container, build_container
from server.dunning_runtime import InProcessDunning
from server.gc_tuning import freeze_heap
from server.middleware import (
    BodySizeLimitMiddleware,
    IpRateLimitMiddleware,
    RequestContextMiddleware,
    SecurityHeadersMiddleware,
)
from server.settings import Settings, get_settings
from server.telegram_runtime import start_telegram


def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        message = str(err.get("msg", "inválido")).removeprefix("Value error, ")
        if err.get("type") == "json_invalid":
            message = "JSON inválido no corpo da requisição"
        elif err.get("type") == "missing":
            message = "campo obrigatório"
        errors.append({"field": loc or None, "message": message})
    return JSONResponse({"detail": errors}, status_code=422)


def create_app(
    settings: Settings | None = None,
    container: Container | None = None,
    *,
    freeze_heap_on_start: bool = False,
) -> FastAPI:
    """``freeze_heap_on_start``: for a server process (`negocia serve`), see server/gc_tuning.py."""
    settings = settings or (container.settings if container else get_settings())
    if settings.is_production and (problems := settings.production_problems()):
        raise RuntimeError("configuração insegura para produção: " + "; ".join(problems))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = container is None
        app.state.container = container or build_container(settings)
        app.state.telegram = await start_telegram(app.state.container)  # None when off
        # Without Redis the reminders run in this process (with Redis: `negocia worker`).
        dunning = None
        if owned and not settings.redis_url and settings.dunning_enabled:
            dunning = InProcessDunning(app.state.container.dunning, settings.dunning_tick_seconds).start()
        # Deferred and orphaned turns (engine down, a server killed mid-turn) run again.
        retrier = None
        if owned and settings.engine_retry_enabled:
            c = app.state.container
            retrier = PendingRetrier(
                lambda: c.gateway, c.turns, c.engine_health,
                interval_s=settings.engine_retry_seconds, max_interval_s=settings.engine_retry_max_seconds,
            ).start()  # fmt: skip
        if freeze_heap_on_start:
            freeze_heap()
        try:
            yield
        finally:
            if retrier is not None:
                retrier.stop()
            if dunning is not None:
                dunning.stop()
            if app.state.telegram is not None:
                await app.state.telegram.stop()
            if owned:
                app.state.container.close()

    app = FastAPI(title="negocia", version="0.1.0", lifespan=lifespan)
    if container is not None:
        app.state.container = container
    app.add_exception_handler(RequestValidationError, _validation_error)
    # Outermost last: request id and metrics wrap everything, then headers, limits.
    app.add_middleware(IpRateLimitMiddleware)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    https = (settings.public_base_url or "").startswith("https://")
    app.add_middleware(SecurityHeadersMiddleware, hsts=https)
    app.add_middleware(RequestContextMiddleware)
    app.include_router(metrics.router)
    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(sandbox.router)
    app.include_router(whatsapp.router)
    app.include_router(telegram.router)
    app.include_router(internal.router)
    app.include_router(negotiation.router)
    app.include_router(dialogue.router)
    app.include_router(policy.router)
    app.include_router(agreements.router)
    app.include_router(payments.router)
    app.include_router(web.router)
    app.include_router(handoffs.router)
    app.include_router(conversations.router)
    app.include_router(media.api_router)
    app.include_router(media.console_router)
    app.include_router(collectors.router)
    app.include_router(console.router)
    app.include_router(dunning.router)
    app.include_router(kpis.router)
    app.include_router(app_settings.router)
    app.include_router(users.router)
    app.include_router(admin.router)
    return app
