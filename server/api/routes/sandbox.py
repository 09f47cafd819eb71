"""Sandbox channel: behaves like WhatsApp (phone-number senders) for demos and tests."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from bot.dialogue import BotReply
from server.api.deps import ContainerDep, SessionDep
from server.api.limits import enforce_sender_limit
from server.api.schemas import (
    ChatMessageOut,
    SandboxHistoryOut,
    SandboxMessageIn,
    SandboxTurnOut,
    SentMessageOut,
)
from server.db import repositories as repo
from server.db.models import Channel
from server.domain.phone import InvalidPhone, normalize_phone

router = APIRouter(prefix="/channels/sandbox", tags=["channels"])


def _out(reply: BotReply) -> ChatMessageOut:
    return ChatMessageOut(
        text=reply.text,
        buttons=[{"title": b.title, "payload": b.payload} for b in reply.buttons],  # type: ignore[misc]
        image=reply.image,
        document=reply.document,
    )


@router.post("/messages", response_model=SandboxTurnOut)
async def post_message(body: SandboxMessageIn, container: ContainerDep) -> SandboxTurnOut:
    """One turn: the bot's replies (empty while a collector holds the conversation)."""
    if not container.settings.sandbox_enabled:
        raise HTTPException(404, "canal sandbox desativado")
    enforce_sender_limit(container, body.sender)
    # On the turn threads, not the request threadpool: the actions call back into this server.
    result = await container.turns.run(container.gateway.handle_text, Channel.SANDBOX, body.sender, body.text)
    return SandboxTurnOut(messages=[_out(r) for r in result.replies])


@router.get("/messages", response_model=SandboxHistoryOut)
def get_messages(
    session: SessionDep, recipient: Annotated[str, Query(description="Telefone, ex.: +5531991234567")]
) -> SandboxHistoryOut:
    """Every message sent to ``recipient`` (bot, collector, reminders), oldest first."""
    try:
        address = normalize_phone(recipient)
    except InvalidPhone as exc:
        raise HTTPException(422, f"telefone inválido: {exc}") from exc
    messages = []
    for m in repo.messages_to_address(session, Channel.SANDBOX, address):
        reply = BotReply.from_payload(m.text, m.payload)
        messages.append(
            SentMessageOut(**_out(reply).model_dump(), author=m.author.value, created_at=m.created_at)
        )
    return SandboxHistoryOut(messages=messages)
