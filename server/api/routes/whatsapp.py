"""Twilio's WhatsApp webhooks: inbound messages and delivery status callbacks.

Both are signed (X-Twilio-Signature, HMAC-SHA1 of the public URL and the sorted form fields).
The public URL is ``NEGOCIA_PUBLIC_BASE_URL`` + path, because behind a proxy the URL we see is not
the one Twilio signed. Inbound messages are stored and acknowledged at once (empty TwiML); the turn
runs on the turn threads, so Twilio's 15-second timeout never fires and it never retries a turn.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Header, HTTPException, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from twilio.request_validator import RequestValidator

from bot import outbox
from bot.channels.whatsapp import from_whatsapp
from bot.gateway import Inbound, InboundKind
from server.api.deps import ContainerDep
from server.api.limits import enforce_sender_limit
from server.container import Container
from server.db.models import Channel
from server.domain.phone import InvalidPhone, normalize_phone

router = APIRouter(prefix="/channels/whatsapp", tags=["channels"])

MAX_BODY_BYTES = 64 * 1024
MAX_FIELDS = 200
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
_E164 = re.compile(r"^\+[1-9]\d{7,14}$")
_VCARD_TYPES = ("text/vcard", "text/x-vcard", "text/directory")


def _twiml() -> Response:
    return Response(EMPTY_TWIML, media_type="text/xml")


async def _read_form(request: Request) -> dict[str, str]:
    """The form fields, within 64 KiB; never fails on bad bytes (replaced, like Twilio's own
    clients would show them), 400 on anything that is not a form."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise HTTPException(400, "Content-Length inválido")
        if int(declared) > MAX_BODY_BYTES:
            raise HTTPException(413, "corpo maior que 64 KiB")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise HTTPException(413, "corpo maior que 64 KiB")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise HTTPException(400, "esperado application/x-www-form-urlencoded")
    text = bytes(body).decode("utf-8", errors="replace")
    try:
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            strict_parsing=bool(text),
            errors="replace",
            max_num_fields=MAX_FIELDS,
        )
    except ValueError as exc:
        raise HTTPException(400, f"formulário malformado: {exc}") from exc
    return dict(pairs)


def _check_signature(
    container: Container, request: Request, form: dict[str, str], signature: str | None
) -> None:
    settings = container.settings
    if not signature:
        raise HTTPException(403, "assinatura X-Twilio-Signature ausente")
    assert settings.twilio_auth_token is not None
    base = (
        settings.public_base_url.rstrip("/")
        if settings.public_base_url
        else str(request.base_url).rstrip("/")
    )
    url = base + request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if not RequestValidator(settings.twilio_auth_token.get_secret_value()).validate(url, form, signature):
        raise HTTPException(403, "assinatura X-Twilio-Signature inválida")


async def _verified_form(container: Container, request: Request, signature: str | None) -> dict[str, str]:
    if not container.settings.whatsapp_enabled:
        raise HTTPException(404, "canal WhatsApp desativado")
    form = await _read_form(request)
    _check_signature(container, request, form, signature)
    return form


def _address(raw: str) -> str:
    value = from_whatsapp(raw.strip())
    try:
        return normalize_phone(value)
    except InvalidPhone:
        if _E164.match(value):
            return value  # a foreign number: an unknown sender, who learns nothing
        raise HTTPException(400, f"remetente inválido: {raw!r}") from None


def inbound_from_form(form: dict[str, str]) -> Inbound:
    """Twilio's inbound fields as our neutral inbound message (400 when essentials are missing)."""
    sid, sender = form.get("MessageSid") or form.get("SmsMessageSid"), form.get("From")
    if not sid or not sender:
        raise HTTPException(400, "campos MessageSid e From são obrigatórios")
    if len(sid) > 64:
        raise HTTPException(400, "MessageSid inválido")
    address = _address(sender)
    text = form.get("Body", "")
    try:
        count = int(form.get("NumMedia") or 0)
    except ValueError:
        raise HTTPException(400, "NumMedia inválido") from None
    media = [
        {"url": form.get(f"MediaUrl{i}", ""), "content_type": form.get(f"MediaContentType{i}", "")}
        for i in range(max(0, min(count, 10)))
    ]
    message_type = form.get("MessageType", "").lower()
    kind = InboundKind.TEXT
    if form.get("Latitude") or message_type == "location":
        kind = InboundKind.LOCATION
        if not text.strip():
            text = f"[localização: {form.get('Latitude', '?')}, {form.get('Longitude', '?')}]"
    elif message_type == "contacts" or any(m["content_type"].lower() in _VCARD_TYPES for m in media):
        kind = InboundKind.CONTACTS
    elif media:
        kind = InboundKind.MEDIA
    elif not text.strip():
        kind = InboundKind.UNSUPPORTED
    return Inbound(Channel.WHATSAPP, address, text, sid, kind, media)


@router.post("", response_class=Response)
async def inbound(
    request: Request,
    container: ContainerDep,
    x_twilio_signature: Annotated[str | None, Header()] = None,
) -> Response:
    """A message from a debtor: stored, acknowledged with empty TwiML, its turn run in order."""
    form = await _verified_form(container, request, x_twilio_signature)
    message = inbound_from_form(form)
    enforce_sender_limit(container, message.address)
    gateway = container.gateway
    accepted = await run_in_threadpool(gateway.accept, message)
    if accepted.conversation_id:
        # A retry of a stored message still schedules: a drain finds nothing, or what a crash left.
        container.turns.schedule(
            accepted.conversation_id, partial(gateway.process_next, accepted.conversation_id)
        )
    return _twiml()


def record_status(container: Container, sid: str, status: str, error_code: str | None) -> bool:
    """Applied to our message with that MessageSid, or kept until the send records the SID."""
    return outbox.record_status(container.session_factory, sid, status, error_code)


@router.post("/status", response_class=Response)
async def status_callback(
    request: Request,
    container: ContainerDep,
    x_twilio_signature: Annotated[str | None, Header()] = None,
) -> Response:
    """Twilio's delivery status of a message we sent (queued … read, undelivered/failed)."""
    form = await _verified_form(container, request, x_twilio_signature)
    sid, status = form.get("MessageSid") or form.get("SmsSid"), (form.get("MessageStatus") or "").lower()
    if not sid or not status:
        raise HTTPException(400, "campos MessageSid e MessageStatus são obrigatórios")
    await run_in_threadpool(record_status, container, sid, status, form.get("ErrorCode"))
    return Response(status_code=204)
