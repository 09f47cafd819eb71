"""PIX payment confirmations from the PSP (Bacen API Pix webhook shape)."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Request

from server.adapters.psp import InvalidWebhook, parse_pix_webhook
from server.api.deps import ContainerDep, SessionDep
from server.services.payments import reconcile

router = APIRouter(tags=["payments"])


@router.post("/webhooks/pix")
async def pix_webhook(
    request: Request,
    session: SessionDep,
    container: ContainerDep,
    x_webhook_token: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """Each payment is applied once, however often the PSP repeats the notification."""
    expected = container.settings.pix_webhook_token.get_secret_value()
    if not x_webhook_token or not secrets.compare_digest(x_webhook_token.encode(), expected.encode()):
        raise HTTPException(401, "token do webhook ausente ou inválido")
    try:
        body = await request.json()
    except ValueError as exc:
        raise HTTPException(422, "JSON inválido no corpo da requisição") from exc
    try:
        payments = parse_pix_webhook(body)
    except InvalidWebhook as exc:
        raise HTTPException(422, str(exc)) from exc
    raw_items = body["pix"]
    results = [
        reconcile(session, p, raw, container.clock.now()) for p, raw in zip(payments, raw_items, strict=True)
    ]
    return {
        "results": [
            {"endToEndId": r.end_to_end_id, "outcome": r.outcome.value, "agreement": r.agreement_id,
             "installment": r.installment}
            for r in results
        ]
    }  # fmt: skip
