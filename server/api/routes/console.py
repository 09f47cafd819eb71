"""The collector console (/console): server-rendered pages in Portuguese, form POSTs with CSRF
tokens, and server-sent events for the live transcript."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Header, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from server.api.console_session import (
    ConsoleDep,
    ConsoleSession,
    PostDep,
    check_login_csrf,
    end_session,
    login_csrf,
    login_nonce,
    set_login_nonce,
    start_session,
)
from server.api.deps import ContainerDep, SessionDep
from server.api.staff_presenters import handoff_state
from server.clock import local_today
from server.container import Container
from server.db import repositories as repo
from server.db.models import Conversation, Message
from server.domain.formatting import format_brl, format_date
from server.services import audit, collector_actions, console_texts
from server.services.app_settings import working_hours
from server.services.collector_agreements import ManualTerms
from server.services.collector_authority import authority_for
from server.services.console_views import conversation_view, messages_after, queue
from server.services.handoffs import HandoffError
from server.services.live import conversation_topic
from server.services.negotiation import NegotiationError
from server.services.users import authenticate

TZ = ZoneInfo("America/Sao_Paulo")
TEMPLATES = Jinja2Templates(directory=Path(__file__).resolve().parents[2] / "web" / "templates")


def _local(value: datetime | None) -> str:
    return value.astimezone(TZ).strftime("%d/%m/%Y %H:%M") if value else ""


def _waited(since: datetime, now: datetime) -> str:
    minutes = max(int((now - since).total_seconds() // 60), 0)
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 24 * 60:
        return f"{minutes // 60} h {minutes % 60:02d} min"
    return f"{minutes // (24 * 60)} d {minutes // 60 % 24} h"


TEMPLATES.env.filters.update(brl=format_brl, day=format_date, local=_local)
TEMPLATES.env.globals.update(reasons=console_texts.REASON_LABELS, states=console_texts.STATE_LABELS)

router = APIRouter(prefix="/console", include_in_schema=False)

AUTHOR_LABELS = {"contact": "Cliente", "bot": "Assistente", "collector": "Atendente", "system": "Sistema"}


def _message(m: Message) -> dict[str, Any]:
    return {"id": m.id, "author": m.author.value, "who": AUTHOR_LABELS[m.author.value],
            "direction": m.direction.value, "text": m.text, "at": _local(m.created_at),
            "status": m.status or ""}  # fmt: skip


# --- login -----------------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, container: ContainerDep) -> Response:
    nonce = login_nonce(request)
    page = TEMPLATES.TemplateResponse(
        request, "console/login.html", {"csrf": login_csrf(container, nonce), "error": None}
    )
    set_login_nonce(container, page, nonce)
    return page


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    container: ContainerDep,
    session: SessionDep,
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    check_login_csrf(container, request, csrf_token)
    user = authenticate(session, email, password)
    if user is None:
        audit.record(session, None, "login_failed", "user", email.strip().lower()[:64], container.clock.now(),
                     channel="console")  # fmt: skip
        session.commit()
        return TEMPLATES.TemplateResponse(
            request, "console/login.html", {"csrf": csrf_token, "error": "E-mail ou senha inválidos."}, 401
        )
    audit.record(session, user, "login", "user", user.id, container.clock.now(), channel="console")
    session.commit()
    response = RedirectResponse("/console", status_code=303)
    start_session(container, response, user)
    return response


@router.post("/logout")
def logout(console: PostDep) -> Response:
    response = RedirectResponse("/console/login", status_code=303)
    end_session(response)
    return response


# --- queue -----------------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
def queue_page(
    request: Request,
    container: ContainerDep,
    session: SessionDep,
    console: ConsoleDep,
    state: Literal["waiting_human", "with_human", "closed"] = "waiting_human",
) -> Response:
    now = container.clock.now()
    items = queue(session, state, local_today(container.clock))
    rows = [{"item": i, "waited": _waited(i.waiting_since, now)} for i in items]
    hours = working_hours(session)
    hours_open = hours.is_open(now)
    return TEMPLATES.TemplateResponse(request, "console/queue.html", {
        "user": console.user, "csrf": console.csrf, "rows": rows, "state": state, "hours_open": hours_open,
        "next_opening": _local(hours.next_opening(now)),
    })  # fmt: skip


# --- conversation ----------------------------------------------------------------------------


def _conversation(session: SessionDep, public_id: str) -> Conversation:
    conversation = repo.conversation_by_public_id(session, public_id)
    if conversation is None:
        raise HTTPException(404, "conversa não encontrada")
    return conversation


def _page(request: Request, container: Container, session: SessionDep, console: ConsoleSession,
          conversation: Conversation, error: str | None = None, status: int = 200) -> Response:  # fmt: skip
    today = local_today(container.clock)
    view = conversation_view(session, conversation, today)
    held = view.handoff is not None and view.handoff.claimed_by_id == console.user.id
    creditor = container.settings.creditor_trade_name
    canned = [
        t.format(collector=console.user.name or "a equipe de cobrança", creditor=creditor)
        for t in console_texts.CANNED_REPLIES
    ]
    return TEMPLATES.TemplateResponse(request, "console/conversation.html", {
        "user": console.user, "csrf": console.csrf, "view": view, "c": conversation,
        "messages": [_message(m) for m in view.messages], "handoff_state": handoff_state,
        "held": held or (view.handoff is not None and view.handoff.claimed_by_id is not None
                         and console.user.role.value == "admin"),
        "authority": authority_for(session, console.user, container.settings), "canned": canned,
        "today": today, "default_due": today + timedelta(days=3), "error": error,
        "last_id": view.messages[-1].id if view.messages else 0,
    }, status)  # fmt: skip


@router.get("/conversations/{public_id}", response_class=HTMLResponse)
def conversation_page(
    public_id: str, request: Request, container: ContainerDep, session: SessionDep, console: ConsoleDep
) -> Response:
    return _page(request, container, session, console, _conversation(session, public_id))


def _new_messages(container: Container, conversation_id: int, after: int) -> list[dict[str, Any]]:
    with container.session_factory() as session:
        return [_message(m) for m in messages_after(session, conversation_id, after)]


@router.get("/conversations/{public_id}/events")
async def conversation_events(
    public_id: str,
    request: Request,
    container: ContainerDep,
    console: ConsoleDep,
    after: int = 0,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """Server-sent events: every new message of the conversation (inbound ones arrive here while
    a collector holds it). One response lasts console_stream_seconds; EventSource reconnects
    with Last-Event-ID and nothing is missed because each poll reads the database."""

    def lookup() -> int:
        with container.session_factory() as session:
            return _conversation(session, public_id).id

    conversation_id = await run_in_threadpool(lookup)
    resumed = last_event_id or ""
    start = max(after, int(resumed) if resumed.isdigit() else 0)
    budget = container.settings.console_stream_seconds

    async def stream() -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + budget
        last = start
        async with container.live.subscribe(conversation_topic(conversation_id)) as sub:
            while True:
                for row in await run_in_threadpool(_new_messages, container, conversation_id, last):
                    last = row["id"]
                    yield f"id: {last}\nevent: message\ndata: {json.dumps(row, ensure_ascii=False)}\n\n"
                remaining = deadline - loop.time()
                if remaining <= 0 or await request.is_disconnected():
                    break
                await sub.wait(min(remaining, 5.0))
        yield "retry: 1000\n\n"

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


# --- actions ---------------------------------------------------------------------------------


@router.post("/handoffs/{handoff_id}/claim")
def claim(
    handoff_id: int, request: Request, container: ContainerDep, session: SessionDep, console: PostDep
) -> Response:
    try:
        handoff = collector_actions.claim(container, session, handoff_id, console.user)
    except HandoffError as exc:
        if exc.status == 404:
            raise HTTPException(404, str(exc)) from exc
        session.rollback()
        return _queue_error(request, container, session, console, str(exc), exc.status)
    return RedirectResponse(f"/console/conversations/{handoff.conversation.public_id}", status_code=303)


def _queue_error(request: Request, container: Container, session: SessionDep, console: ConsoleSession,
                 error: str, status: int) -> Response:  # fmt: skip
    now = container.clock.now()
    items = queue(session, "waiting_human", local_today(container.clock))
    return TEMPLATES.TemplateResponse(request, "console/queue.html", {
        "user": console.user, "csrf": console.csrf, "rows": [{"item": i, "waited": _waited(i.waiting_since, now)}
                                                              for i in items],
        "state": "waiting_human", "error": error, "hours_open": working_hours(session).is_open(now),
        "next_opening": _local(working_hours(session).next_opening(now)),
    }, status)  # fmt: skip


def _resolve(handoff_id: int, request: Request, container: Container, session: SessionDep,
             console: ConsoleSession, close: bool) -> Response:  # fmt: skip
    try:
        handoff = collector_actions.resolve(container, session, handoff_id, console.user, close=close)
    except HandoffError as exc:
        if exc.status == 404:
            raise HTTPException(404, str(exc)) from exc
        session.rollback()
        from server.db.models import Handoff

        found = session.get(Handoff, handoff_id)
        assert found is not None
        return _page(request, container, session, console, found.conversation, str(exc), exc.status)
    return RedirectResponse(f"/console/conversations/{handoff.conversation.public_id}", status_code=303)


@router.post("/handoffs/{handoff_id}/release")
def release(
    handoff_id: int, request: Request, container: ContainerDep, session: SessionDep, console: PostDep
) -> Response:
    return _resolve(handoff_id, request, container, session, console, close=False)


@router.post("/handoffs/{handoff_id}/close")
def close(
    handoff_id: int, request: Request, container: ContainerDep, session: SessionDep, console: PostDep
) -> Response:
    return _resolve(handoff_id, request, container, session, console, close=True)


def _back(public_id: str) -> Response:
    return RedirectResponse(f"/console/conversations/{public_id}", status_code=303)


@router.post("/conversations/{public_id}/messages")
def reply(
    public_id: str, request: Request, container: ContainerDep, session: SessionDep, console: PostDep,
    text: Annotated[str, Form(max_length=4096)] = "",
) -> Response:  # fmt: skip
    conversation = _conversation(session, public_id)
    if not text.strip():
        return _page(request, container, session, console, conversation, "Escreva a mensagem.", 422)
    try:
        collector_actions.reply(container, session, conversation, console.user, text.strip())
    except HandoffError as exc:
        session.rollback()
        return _page(request, container, session, console, conversation, str(exc), exc.status)
    return _back(public_id)


def _decimal(value: str, what: str) -> Decimal:
    try:
        parsed = Decimal(
            value.strip().replace(".", "").replace(",", ".") if "," in value else value.strip() or "0"
        )
    except InvalidOperation as exc:
        raise ValueError(f"{what} inválido") from exc
    if not parsed.is_finite() or parsed < 0 or parsed != parsed.quantize(Decimal("0.01")):
        raise ValueError(f"{what} inválido")
    return parsed


@router.post("/conversations/{public_id}/agreements")
def agreement(
    public_id: str, request: Request, container: ContainerDep, session: SessionDep, console: PostDep,
    kind: Annotated[str, Form()] = "cash", first_due: Annotated[str, Form()] = "",
    discount_pct: Annotated[str, Form(max_length=20)] = "0",
    installments: Annotated[str, Form(max_length=4)] = "1",
    down_payment: Annotated[str, Form(max_length=20)] = "0",
) -> Response:  # fmt: skip
    conversation = _conversation(session, public_id)
    try:
        if kind not in ("cash", "plan"):
            raise ValueError("escolha à vista ou parcelado")
        try:
            due = date.fromisoformat(first_due)
        except ValueError as exc:
            raise ValueError("data do primeiro pagamento inválida") from exc
        if not installments.strip().isdigit() or not 1 <= int(installments) <= 120:
            raise ValueError("número de parcelas inválido")
        terms = ManualTerms(kind, due, _decimal(discount_pct, "desconto"), int(installments),  # type: ignore[arg-type]
                            _decimal(down_payment, "valor de entrada"))  # fmt: skip
        collector_actions.agree(container, session, conversation, console.user, terms)
    except ValueError as exc:  # NegotiationError is one
        session.rollback()
        status = exc.status if isinstance(exc, NegotiationError) else 422
        return _page(request, container, session, console, conversation, str(exc), status)
    except HandoffError as exc:
        session.rollback()
        return _page(request, container, session, console, conversation, str(exc), exc.status)
    return _back(public_id)


@router.post("/conversations/{public_id}/flags")
def flag(
    public_id: str, request: Request, container: ContainerDep, session: SessionDep, console: PostDep,
    name: Annotated[str, Form()] = "", value: Annotated[str, Form()] = "",
) -> Response:  # fmt: skip
    conversation = _conversation(session, public_id)
    if name not in ("in_dispute", "legal_hold") or value not in ("0", "1"):
        return _page(request, container, session, console, conversation, "Opção inválida.", 422)
    try:
        collector_actions.set_flag(container, session, conversation, console.user, name, value == "1")  # type: ignore[arg-type]
    except HandoffError as exc:
        session.rollback()
        return _page(request, container, session, console, conversation, str(exc), exc.status)
    return _back(public_id)
