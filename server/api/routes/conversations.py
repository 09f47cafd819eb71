"""Staff API: a conversation's transcript, a collector's reply, manual agreement and flags."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from server.api.deps import ContainerDep, SessionDep, StaffUser
from server.api.presenters import agreement_view
from server.api.staff_presenters import conversation_out
from server.api.staff_schemas import ConversationOut, FlagIn, ManualAgreementIn, ReplyIn, ReplyOut
from server.clock import local_today
from server.db import repositories as repo
from server.db.models import Conversation
from server.services import collector_actions
from server.services.agreements import load_agreement
from server.services.collector_agreements import ManualTerms
from server.services.console_views import conversation_view
from server.services.handoffs import HandoffError
from server.services.negotiation import NegotiationError
from server.services.public_links import term_url

router = APIRouter(prefix="/api/conversations", tags=["conversations"])


def load(session: SessionDep, public_id: str) -> Conversation:
    conversation = repo.conversation_by_public_id(session, public_id)
    if conversation is None:
        raise HTTPException(404, "conversa não encontrada")
    return conversation


@router.get("/{public_id}", response_model=ConversationOut)
def transcript(
    public_id: str, session: SessionDep, container: ContainerDep, user: StaffUser
) -> ConversationOut:
    view = conversation_view(session, load(session, public_id), local_today(container.clock))
    return conversation_out(view)


@router.post("/{public_id}/messages", response_model=ReplyOut)
def post_reply(
    public_id: str, body: ReplyIn, session: SessionDep, container: ContainerDep, user: StaffUser
) -> ReplyOut:
    """A collector's reply, delivered through the debtor's channel (WhatsApp, Telegram, sandbox)."""
    conversation = load(session, public_id)
    try:
        ids = collector_actions.reply(container, session, conversation, user, body.text)
    except HandoffError as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    return ReplyOut(message_ids=ids)


@router.post("/{public_id}/agreements", status_code=201)
def post_agreement(
    public_id: str, body: ManualAgreementIn, session: SessionDep, container: ContainerDep, user: StaffUser
) -> dict[str, Any]:
    """A manual agreement within the collector's authority; PIX code and term go to the debtor."""
    terms = ManualTerms(body.kind, body.first_due, body.discount_pct, body.installments, body.down_payment)
    try:
        agreement = collector_actions.agree(container, session, load(session, public_id), user, terms)
    except (HandoffError, NegotiationError) as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    loaded = load_agreement(session, agreement.public_id)
    assert loaded is not None
    return agreement_view(loaded, term_url(container, loaded.public_id))


@router.post("/{public_id}/flags", status_code=204)
def post_flag(
    public_id: str, body: FlagIn, session: SessionDep, container: ContainerDep, user: StaffUser
) -> None:
    """Open or resolve a dispute; set or lift a legal hold."""
    try:
        collector_actions.set_flag(container, session, load(session, public_id), user, body.flag, body.value)
    except HandoffError as exc:
        raise HTTPException(exc.status, str(exc)) from exc
