"""ORM mappings (SQLAlchemy 2, typed). Schema changes go through Alembic migrations."""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Money = Numeric(14, 2)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_public_id() -> str:
    return uuid.uuid4().hex


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # Stored as VARCHAR + CHECK on every backend: identical on SQLite and PostgreSQL.
    return Enum(cls, name=name, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])


class InvoiceStatus(enum.StrEnum):
    OPEN = "open"
    PAID = "paid"
    CANCELLED = "cancelled"


class Channel(enum.StrEnum):
    SANDBOX = "sandbox"
    WHATSAPP = "whatsapp"
    TELEGRAM = "telegram"


class ConversationState(enum.StrEnum):
    BOT = "bot"
    WAITING_HUMAN = "waiting_human"
    WITH_HUMAN = "with_human"
    CLOSED = "closed"


class Direction(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class Author(enum.StrEnum):
    CONTACT = "contact"
    BOT = "bot"
    COLLECTOR = "collector"
    SYSTEM = "system"


class Creditor(Base):
    __tablename__ = "creditors"

    id: Mapped[int] = mapped_column(primary_key=True)
    legal_name: Mapped[str] = mapped_column(String(200))
    trade_name: Mapped[str] = mapped_column(String(200))
    cnpj: Mapped[str] = mapped_column(String(14), unique=True)
    late_fee_pct: Mapped[Decimal] = mapped_column(Numeric(6, 3), default=Decimal("2"))
    monthly_interest_pct: Mapped[Decimal] = mapped_column(Numeric(6, 3), default=Decimal("1"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Debtor(Base):
    __tablename__ = "debtors"
    __table_args__ = (UniqueConstraint("creditor_id", "cnpj"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    creditor_id: Mapped[int] = mapped_column(ForeignKey("creditors.id"), index=True)
    cnpj: Mapped[str] = mapped_column(String(14))
    cnpj_root: Mapped[str] = mapped_column(String(8), index=True)
    legal_name: Mapped[str] = mapped_column(String(200))
    segment: Mapped[str | None] = mapped_column(String(80))
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    in_dispute: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    creditor: Mapped[Creditor] = relationship()
    contacts: Mapped[list[Contact]] = relationship(back_populates="debtor")
    invoices: Mapped[list[Invoice]] = relationship(back_populates="debtor")


class Contact(Base):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    debtor_id: Mapped[int] = mapped_column(ForeignKey("debtors.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    phone_e164: Mapped[str | None] = mapped_column(String(16))
    # DDD + last 8 digits (see server.domain.phone.match_key).
    phone_key: Mapped[str | None] = mapped_column(String(10), index=True)
    email: Mapped[str | None] = mapped_column(String(254))
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    opted_out_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    debtor: Mapped[Debtor] = relationship(back_populates="contacts")


class Invoice(Base):
    __tablename__ = "invoices"
    __table_args__ = (UniqueConstraint("creditor_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    creditor_id: Mapped[int] = mapped_column(ForeignKey("creditors.id"))
    debtor_id: Mapped[int] = mapped_column(ForeignKey("debtors.id"), index=True)
    number: Mapped[str] = mapped_column(String(60))
    issue_date: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    principal: Mapped[Decimal] = mapped_column(Money)
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[InvoiceStatus] = mapped_column(
        _enum(InvoiceStatus, "invoice_status"), default=InvoiceStatus.OPEN
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    debtor: Mapped[Debtor] = relationship(back_populates="invoices")


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("channel", "address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Opaque id given to Rasa as ``sender``: never the phone number.
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    channel: Mapped[Channel] = mapped_column(_enum(Channel, "channel"))
    address: Mapped[str] = mapped_column(String(64))  # E.164 phone or Telegram chat id
    # Set once the sender has proved who they are (CNPJ root); None before that.
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    state: Mapped[ConversationState] = mapped_column(
        _enum(ConversationState, "conversation_state"), default=ConversationState.BOT
    )
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    verification_failures: Mapped[int] = mapped_column(Integer, default=0)
    disclosure_locked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    handoff_reason: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    contact: Mapped[Contact | None] = relationship()
    messages: Mapped[list[Message]] = relationship(back_populates="conversation", order_by="Message.id")


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_conversation_created", "conversation_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    direction: Mapped[Direction] = mapped_column(_enum(Direction, "direction"))
    author: Mapped[Author] = mapped_column(_enum(Author, "author"))
    text: Mapped[str] = mapped_column(Text, default="")
    # Buttons, image and document links of an outbound message.
    payload: Mapped[dict | None] = mapped_column(JSON)
    provider_message_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    status: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    conversation: Mapped[Conversation] = relationship(back_populates="messages")
