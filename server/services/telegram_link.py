"""Linking a Telegram user to registered contacts: Telegram gives no phone number until the user
shares their own contact card (request-contact button).

A linked contact has ``telegram_user_id`` set; ``identity.candidate_contacts`` then finds it for a
Telegram conversation (whose address is the private chat id, equal to the user id), exactly as a
phone number finds it on WhatsApp. Linking only says who *may* be writing: the CNPJ-root check
still follows before anything about a debt is disclosed.
"""

from __future__ import annotations

import enum

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from server.db import repositories as repo
from server.db.models import Channel, Contact, Conversation
from server.domain.phone import InvalidPhone, match_key


class LinkOutcome(enum.StrEnum):
    LINKED = "linked"
    NOT_OWN_CONTACT = "not_own_contact"  # a forwarded card of someone else: nothing linked
    UNKNOWN_PHONE = "unknown_phone"  # no registered contact has this number


def link_contact(
    session: Session,
    conversation: Conversation,
    *,
    sender_user_id: int,
    contact_user_id: int | None,
    phone: str,
) -> LinkOutcome:
    """Link ``sender_user_id`` to the contacts registered with ``phone`` (commit is the caller's).

    Only a card whose ``user_id`` is the sender's own counts: Telegram vouches that the number
    belongs to that account, while anyone can forward someone else's card.
    """
    if contact_user_id is None or contact_user_id != sender_user_id:
        return LinkOutcome.NOT_OWN_CONTACT
    try:
        key = match_key(phone if phone.startswith("+") else f"+{phone}")
    except InvalidPhone:
        return LinkOutcome.UNKNOWN_PHONE
    contacts = repo.contacts_by_phone_key(session, key)
    if not contacts:
        return LinkOutcome.UNKNOWN_PHONE
    ids = [c.id for c in contacts]
    # The number now proves this account, so older links to the same user (another number) and
    # other accounts' links to these contacts (a recycled number) are dropped.
    session.execute(
        update(Contact)
        .where(Contact.telegram_user_id == sender_user_id, Contact.id.not_in(ids))
        .values(telegram_user_id=None)
    )
    session.execute(update(Contact).where(Contact.id.in_(ids)).values(telegram_user_id=sender_user_id))
    # A Telegram conversation verified as one of these contacts from another account, or this
    # conversation verified as a contact it no longer links to, must verify again.
    session.execute(
        update(Conversation)
        .where(
            Conversation.channel == Channel.TELEGRAM,
            Conversation.id != conversation.id,
            Conversation.contact_id.in_(ids),
        )
        .values(contact_id=None, verified_at=None)
    )
    if conversation.contact_id is not None and conversation.contact_id not in ids:
        conversation.contact_id = None
        conversation.verified_at = None
    session.flush()
    session.expire_all()
    return LinkOutcome.LINKED


def is_linked(session: Session, user_id: int) -> bool:
    return session.scalar(select(Contact.id).where(Contact.telegram_user_id == user_id).limit(1)) is not None
