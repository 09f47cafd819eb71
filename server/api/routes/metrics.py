"""Prometheus scrape endpoint: this worker's counters and the current queue depths."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from server import metrics
from server.api.deps import ContainerDep

router = APIRouter(tags=["observability"])


@router.get("/metrics", response_class=Response)
async def prometheus_metrics(
    container: ContainerDep, authorization: Annotated[str | None, Header()] = None
) -> Response:
    """Prometheus text format. With NEGOCIA_METRICS_TOKEN set, a ``Bearer`` token is required."""
    token = container.settings.metrics_token
    if token is not None:
        expected = f"Bearer {token.get_secret_value()}"
        if not authorization or not hmac.compare_digest(authorization.encode(), expected.encode()):
            raise HTTPException(401, "token de métricas ausente ou inválido")
    body = await run_in_threadpool(metrics.render, container.session_factory)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
