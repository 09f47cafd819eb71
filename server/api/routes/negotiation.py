"""Internal API for the actions: quote, negotiation moves, acceptance, PIX codes, term link."""

from __future__ import annotations

import datetime as dt
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import select

from server.api.deps import ContainerDep, ServiceAuth, SessionDep
from server.api.presenters import agreement_view, day, money, outcome_view
from server.clock import local_today
from server.container import Container
from server.db.models import Conversation, Quote
from server.domain.parsing import parse_amount, parse_counter_offer, parse_date, parse_installments
from server.services import identity
from server.services.agreements import Acceptance, accept_quote, load_agreement
from server.services.debts import DisclosureRefused
from server.services.negotiation import Move, NegotiationError, apply_move, open_negotiation
from server.services.public_links import qr_url, term_url

router = APIRouter(prefix="/internal", tags=["internal"], dependencies=[ServiceAuth])

MAX_AMOUNT = Decimal("1000000000")


def _amount(value: Decimal | None) -> Decimal | None:
    if value is None:
        return None
    if value <= 0:
        raise ValueError("o valor deve ser maior que zero")
    if value > MAX_AMOUNT:
        raise ValueError("valor absurdo")
    if value != value.quantize(Decimal("0.01")):
        raise ValueError("no máximo duas casas decimais")
    return value


class QuoteIn(BaseModel):
    invoice_numbers: list[str] | None = Field(default=None, max_length=500)


class MoveIn(BaseModel):
    """A move with its value, or the debtor's own words (``text``) for the server to read."""

    move: Move | Literal["counter_offer"]
    text: str | None = Field(default=None, max_length=4096)
    installments: int | None = Field(default=None, ge=1, le=360)
    amount: Annotated[Decimal | None, Field(default=None, allow_inf_nan=False)] = None
    date: dt.date | None = None

    @field_validator("amount")
    @classmethod
    def _check_amount(cls, value: Decimal | None) -> Decimal | None:
        return _amount(value)


class AcceptIn(BaseModel):
    quote_id: str = Field(min_length=1, max_length=32)
    option: str = Field(min_length=1, max_length=20)
    message_id: str | None = Field(default=None, max_length=64)


def _refused(exc: DisclosureRefused) -> JSONResponse:
    return JSONResponse({"detail": "identidade não verificada", "status": exc.status.value}, status_code=403)


def _verified(session: SessionDep, container: Container, public_id: str) -> tuple[Conversation, Any]:
    try:
        return identity.verified_conversation(
            session, public_id, container.clock.now(), container.identity_policy
        )
    except identity.ConversationNotFound as exc:
        raise HTTPException(404, "conversa não encontrada") from exc


@router.post("/conversations/{public_id}/quote")
def create_quote(public_id: str, body: QuoteIn, session: SessionDep, container: ContainerDep) -> Any:
    try:
        conversation, contact = _verified(session, container, public_id)
        result = open_negotiation(
            session,
            contact.debtor,
            local_today(container.clock),
            conversation,
            body.invoice_numbers,
            container.clock.now(),
        )
    except DisclosureRefused as exc:
        return _refused(exc)
    except NegotiationError as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    session.commit()
    return outcome_view(result.outcome, result.quote)


def _read_move(body: MoveIn, today: date) -> tuple[Move, Decimal | int | date | None]:
    """The move and its value; values missing from the body are read from the debtor's text."""
    text = body.text or ""
    if body.move == "counter_offer":
        counter = parse_counter_offer(text)
        if counter is None:
            raise HTTPException(422, "não entendi o valor da proposta")
        return Move(counter.kind), counter.amount
    move = Move(body.move)
    if move == Move.INSTALLMENTS:
        # "quero parcelar" without a number asks for the most installments allowed.
        return move, body.installments or parse_installments(text) or 360
    if move == Move.POSTPONE:
        wanted = body.date or parse_date(text, today)
        if wanted is None:
            raise HTTPException(422, "não entendi a data desejada")
        return move, wanted
    if move in (Move.MONTHLY, Move.DOWN_PAYMENT, Move.CASH):
        amount = body.amount if body.amount is not None else parse_amount(text)
        if amount is None:
            raise HTTPException(422, "não entendi o valor da proposta")
        try:
            return move, _amount(amount)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
    return move, None


@router.post("/conversations/{public_id}/moves")
def negotiation_move(public_id: str, body: MoveIn, session: SessionDep, container: ContainerDep) -> Any:
    today = local_today(container.clock)
    move, value = _read_move(body, today)
    try:
        conversation, contact = _verified(session, container, public_id)
        result = apply_move(session, contact.debtor, conversation, move, today, container.clock.now(), value)
    except DisclosureRefused as exc:
        return _refused(exc)
    except NegotiationError as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    session.commit()
    return outcome_view(result.outcome, result.quote)


@router.get("/agreements/{agreement_id}")
def agreement_detail(agreement_id: str, session: SessionDep, container: ContainerDep) -> dict[str, Any]:
    agreement = load_agreement(session, agreement_id)
    if agreement is None:
        raise HTTPException(404, "acordo não encontrado")
    return agreement_view(
        agreement, term_url(container, agreement_id), lambda n: qr_url(container, agreement_id, n)
    )


@router.post("/conversations/{public_id}/accept")
def accept(public_id: str, body: AcceptIn, session: SessionDep, container: ContainerDep) -> Any:
    try:
        conversation, contact = _verified(session, container, public_id)
    except DisclosureRefused as exc:
        return _refused(exc)
    quote = session.scalar(select(Quote).where(Quote.public_id == body.quote_id))
    if quote is None or quote.debtor_id != contact.debtor_id:
        # Another debtor's quote is indistinguishable from a missing one.
        raise HTTPException(404, "cotação não encontrada")
    acceptance = Acceptance(
        channel=conversation.channel.value,
        conversation=conversation,
        message_id=body.message_id,
        contact=contact,
        accepted_at=container.clock.now(),
    )
    try:
        agreement = accept_quote(
            session, quote, body.option, acceptance, container.settings, local_today(container.clock)
        )
    except NegotiationError as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    loaded = load_agreement(session, agreement.public_id)
    assert loaded is not None
    return agreement_view(
        loaded, term_url(container, loaded.public_id), lambda n: qr_url(container, loaded.public_id, n)
    )


@router.get("/agreements/{agreement_id}/installments/{number}/pix")
def installment_pix(
    agreement_id: str, number: int, session: SessionDep, container: ContainerDep
) -> dict[str, Any]:
    agreement = load_agreement(session, agreement_id)
    installment = next((i for i in agreement.installments if i.number == number), None) if agreement else None
    if installment is None:
        raise HTTPException(404, "parcela não encontrada")
    return {
        "number": installment.number,
        "amount": money(installment.amount),
        "due_date": day(installment.due_date),
        "pix_code": installment.pix_code,
        "qr_url": qr_url(container, agreement_id, number),
        "status": installment.status.value,
    }


@router.get("/agreements/{agreement_id}/term-link")
def term_link(agreement_id: str, session: SessionDep, container: ContainerDep) -> dict[str, str]:
    if load_agreement(session, agreement_id) is None:
        raise HTTPException(404, "acordo não encontrado")
    return {"url": term_url(container, agreement_id)}
