"""Contact preferences expressed in the chat: opting out of collection messages."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from server.db.models import Conversation
from server.services.identity import candidate_contacts


def opt_out(session: Session, conversation: Conversation, now: datetime) -> int:
    """Record the opt-out on every contact this sender is (a phone may serve several debtors);
    honoured at once by the reminders. Returns how many contacts were marked."""
    contacts = (
        [conversation.contact] if conversation.contact else list(candidate_contacts(session, conversation))
    )
    for contact in contacts:
        if contact is not None and contact.opted_out_at is None:
            contact.opted_out_at = now
    session.flush()
    return len(contacts)
