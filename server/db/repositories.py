"""Queries the services need, kept in one place so SQL never leaks into routes or actions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
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
    conversation: Conversation,
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
    """Inserts a message; every column is set before the INSERT (no UPDATE right after)."""
    message = Message(
        conversation_id=conversation.id,
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
