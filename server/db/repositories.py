"""Queries the services need, kept in one place so SQL never leaks into routes or actions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from server.db.models import (
    Author,
    Channel,
    Contact,
    Conversation,
    Debtor,
    Direction,
    Invoice,
    InvoiceStatus,
    Message,
)


def contacts_by_phone_key(session: Session, phone_key: str, *, with_debtor: bool = True) -> Sequence[Contact]:
    stmt = select(Contact).where(Contact.phone_key == phone_key).order_by(Contact.id)
    if with_debtor:  # two more queries, for callers that read contact.debtor(.creditor)
        stmt = stmt.options(selectinload(Contact.debtor).selectinload(Debtor.creditor))
    return session.scalars(stmt).all()


def conversation_by_address(session: Session, channel: Channel, address: str) -> Conversation | None:
    return session.scalar(
        select(Conversation).where(Conversation.channel == channel, Conversation.address == address)
    )


_CONVERSATIONS = cast(Table, Conversation.__table__)
# A message from the address: its number in the conversation and the time it came, in one
# UPDATE … RETURNING (``updated_at`` by the column's onupdate).
_INTAKE = (
    update(_CONVERSATIONS)
    .where(
        _CONVERSATIONS.c.channel == bindparam("i_channel"), _CONVERSATIONS.c.address == bindparam("i_address")
    )
    .values(
        last_inbound_at=bindparam("i_now", type_=_CONVERSATIONS.c.last_inbound_at.type),
        inbound_count=func.coalesce(_CONVERSATIONS.c.inbound_count, 0) + 1,
    )
    .returning(_CONVERSATIONS.c.id, _CONVERSATIONS.c.public_id, _CONVERSATIONS.c.inbound_count)
)


class Intake(NamedTuple):
    conversation_id: int
    public_id: str
    ordinal: int  # the new message's number among the sender's messages (``Message.ordinal``)


def intake(session: Session, channel: Channel, address: str, now: datetime) -> Intake:
    """An inbound message's place: the address's conversation (created on its first message),
    its inbound count raised by one and its ``last_inbound_at`` set, as one statement. Its row
    lock (PostgreSQL) or the write lock (SQLite) is held until the caller commits, so two
    messages of one address are numbered, and get their ids, one after the other, whichever
    process took them. Called first in its transaction: when another writer created the
    conversation a moment ago, the rollback loses nothing and the update runs again."""
    params = {"i_channel": channel, "i_address": address, "i_now": now}
    row = session.connection().execute(_INTAKE, params).first()
    if row is None:
        try:
            session.add(Conversation(channel=channel, address=address))
            session.flush()
        except IntegrityError:
            session.rollback()
        row = session.connection().execute(_INTAKE, params).first()
        assert row is not None
    return Intake(int(row[0]), str(row[1]), int(row[2]))


def conversation_by_public_id(
    session: Session, public_id: str, *, for_update: bool = False
) -> Conversation | None:
    stmt = select(Conversation).where(Conversation.public_id == public_id)
    if for_update:
        stmt = stmt.with_for_update()
    return session.scalar(stmt)


def open_invoices(session: Session, debtor_id: int) -> Sequence[Invoice]:
    stmt = (
        select(Invoice)
        .where(Invoice.debtor_id == debtor_id, Invoice.status == InvoiceStatus.OPEN)
        .order_by(Invoice.due_date, Invoice.number)
    )
    return session.scalars(stmt).all()


def add_message(
    session: Session,
    conversation: Conversation | int,
    *,
    direction: Direction,
    author: Author,
    text: str,
    payload: dict | None = None,
    provider_message_id: str | None = None,
    status: str | None = None,
    reply_to_id: int | None = None,
    **columns: Any,
) -> Message:
    """Inserts a message in the conversation (or the conversation with that id); every column is
    set before the INSERT (no UPDATE right after)."""
    message = Message(
        conversation_id=conversation if isinstance(conversation, int) else conversation.id,
        direction=direction,
        author=author,
        text=text,
        payload=payload,
        provider_message_id=provider_message_id,
        status=status,
        reply_to_id=reply_to_id,
        **columns,
    )
    session.add(message)
    session.flush()
    return message


def messages_to_address(session: Session, channel: Channel, address: str) -> Sequence[Message]:
    stmt = (
        select(Message)
        .join(Conversation)
        .where(
            Conversation.channel == channel,
            Conversation.address == address,
            Message.direction == Direction.OUTBOUND,
        )
        .order_by(Message.id)
    )
    return session.scalars(stmt).all()


def last_outbound(session: Session, conversation: Conversation) -> Message | None:
    stmt = (
        select(Message)
        .where(Message.conversation_id == conversation.id, Message.direction == Direction.OUTBOUND)
        .order_by(Message.id.desc())
        .limit(1)
    )
    return session.scalar(stmt)
