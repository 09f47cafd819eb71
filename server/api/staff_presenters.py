"""ORM objects of the console's read models to staff API bodies."""

from __future__ import annotations

from server.api.staff_schemas import ConversationOut, HandoffOut, TranscriptMessageOut
from server.db.models import Handoff
from server.domain.formatting import format_brl
from server.services.console_views import ConversationView, QueueItem


def handoff_state(handoff: Handoff) -> str:
    if handoff.resolved_at is not None:
        return "closed"
    return "with_human" if handoff.claimed_by_id is not None else "waiting_human"


def handoff_out(handoff: Handoff, item: QueueItem | None = None) -> HandoffOut:
    contact = handoff.conversation.contact
    holder = handoff.claimed_by
    return HandoffOut(
        id=handoff.id,
        conversation_id=handoff.conversation.public_id,
        state=handoff_state(handoff),
        reason=handoff.reason,
        summary=handoff.summary,
        debtor=contact.debtor.legal_name if contact is not None else None,
        amount=format_brl(item.amount) if item is not None and item.debtor is not None else None,
        created_at=handoff.created_at,
        claimed_at=handoff.claimed_at,
        claimed_by=(holder.name or holder.email) if holder is not None else None,
        resolved_at=handoff.resolved_at,
        resolution=handoff.resolution,
    )


def conversation_out(view: ConversationView) -> ConversationOut:
    c = view.conversation
    return ConversationOut(
        id=c.public_id,
        channel=c.channel.value,
        state=c.state.value,
        debtor=view.debtor.legal_name if view.debtor is not None else None,
        contact=c.contact.name if c.contact is not None else None,
        handoff=handoff_out(view.handoff) if view.handoff is not None else None,
        messages=[
            TranscriptMessageOut(
                id=m.id,
                direction=m.direction.value,
                author=m.author.value,
                text=m.text,
                status=m.status,
                created_at=m.created_at,
            )
            for m in view.messages
        ],
    )
