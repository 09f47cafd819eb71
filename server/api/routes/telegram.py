"""Telegram webhook: verify the secret header, parse, hand the update to PTB, answer 200 at once.

Telegram re-sends an update until it gets a 2xx, so anything we cannot use (malformed, unknown
kind) is answered 4xx or 200 and never 500; duplicates are dropped by update_id further on.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from fastapi import APIRouter, HTTPException, Request

from bot.telegram_app import TelegramRuntime
from server.api.limits import enforce_sender_limit
from server.services.request_limits import telegram_sender

log = logging.getLogger(__name__)
router = APIRouter(prefix="/channels/telegram", tags=["channels"])

MAX_BODY_BYTES = 64 * 1024
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


async def _read_limited(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise HTTPException(413, "corpo da requisição acima de 64 KiB")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise HTTPException(413, "corpo da requisição acima de 64 KiB")
    return bytes(body)


@router.post("")
async def telegram_webhook(request: Request) -> dict[str, bool]:
    runtime: TelegramRuntime | None = getattr(request.app.state, "telegram", None)
    if runtime is None:
        raise HTTPException(404, "canal Telegram desativado")
    expected = request.app.state.container.settings.telegram_secret_token
    given = request.headers.get(SECRET_HEADER)
    # Without a configured secret nobody is trusted: anyone could post fake updates otherwise.
    if (
        expected is None
        or given is None
        or not hmac.compare_digest(given.encode(), expected.get_secret_value().encode())
    ):
        raise HTTPException(403, "token secreto do Telegram ausente ou inválido")
    raw = await _read_limited(request)
    try:
        data: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPException(400, "JSON inválido no corpo da requisição") from exc
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        raise HTTPException(400, "update do Telegram sem update_id")
    if (sender := telegram_sender(data)) is not None:
        enforce_sender_limit(request.app.state.container, f"tg:{sender}")
    try:
        update = runtime.parse(data)
    except Exception as exc:  # PTB raises KeyError/TypeError/ValueError on malformed fields
        log.info("unparseable telegram update %s: %s", data.get("update_id"), exc)
        raise HTTPException(400, "update do Telegram malformado") from exc
    await runtime.push(update)
    return {"ok": True}
