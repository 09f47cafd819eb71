"""PIX payment confirmations from the PSP (Bacen API Pix webhook shape), signed by the sender:
``X-Negocia-Signature: sha256=<hex HMAC-SHA256 of the raw body under NEGOCIA_PIX_WEBHOOK_SECRET>``."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from server.adapters.psp import InvalidWebhook, parse_pix_webhook
from server.api.deps import ContainerDep, SessionDep
from server.services.payment_followup import mismatch_handoff, thank
from server.services.payments import reconcile

router = APIRouter(tags=["payments"])

SIGNATURE_PREFIX = "sha256="


def sign_body(body: bytes, secret: str) -> str:
    """The header value a PSP (or our proxy) sends for ``body``."""
    return SIGNATURE_PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_valid(body: bytes, header: str | None, secret: str) -> bool:
    if not header or not header.startswith(SIGNATURE_PREFIX):
        return False
    return hmac.compare_digest(header.strip().encode(), sign_body(body, secret).encode())


@router.post("/webhooks/pix")
async def pix_webhook(
    request: Request,
    session: SessionDep,
    container: ContainerDep,
    x_negocia_signature: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """Each payment is applied once, however often the PSP repeats the notification."""
    raw_body = await request.body()
    secret = container.settings.pix_webhook_secret.get_secret_value()
    if not signature_valid(raw_body, x_negocia_signature, secret):
        raise HTTPException(401, "assinatura do webhook ausente ou inválida")
    try:
        body = json.loads(raw_body)
    except ValueError as exc:
        raise HTTPException(422, "JSON inválido no corpo da requisição") from exc
    try:
        payments = parse_pix_webhook(body)
    except InvalidWebhook as exc:
        raise HTTPException(422, str(exc)) from exc
    raw_items = body["pix"]
    hook = mismatch_handoff(container.channels)
    results = [
        reconcile(session, p, raw, container.clock.now(), hook)
        for p, raw in zip(payments, raw_items, strict=True)
    ]
    for result in results:  # after the commit: a provider hiccup never undoes a payment
        await run_in_threadpool(
            thank, container.session_factory, container.outbox, container.channels, container.settings,
            container.catalogue, result, container.clock.now(),
        )  # fmt: skip
    return {
        "results": [
            {"endToEndId": r.end_to_end_id, "outcome": r.outcome.value, "agreement": r.agreement_id,
             "installment": r.installment, "handoff": r.handoff_reason}
            for r in results
        ]
    }  # fmt: skip
