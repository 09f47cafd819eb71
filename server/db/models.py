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
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Money = Numeric(14, 2)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite would hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: use timezone-aware values")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


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
    RENEGOTIATED = "renegotiated"  # covered by an active agreement
    PAID = "paid"
    CANCELLED = "cancelled"


class Role(enum.StrEnum):
    ADMIN = "admin"
    COLLECTOR = "collector"


class AgreementStatus(enum.StrEnum):
    ACTIVE = "active"
    PAID = "paid"
    BROKEN = "broken"
    CANCELLED = "cancelled"


class InstallmentStatus(enum.StrEnum):
    OPEN = "open"
    PAID = "paid"


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
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


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
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

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
    opted_out_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Last time this contact wrote on any channel (WhatsApp's 24-hour window, reminders).
    last_inbound_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

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
    # Static PIX txid of the invoice's own code (sent with its reminders), set on first use.
    txid: Mapped[str | None] = mapped_column(String(35), unique=True)
    paid_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    paid_amount: Mapped[Decimal | None] = mapped_column(Money)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

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
    verified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    verification_failures: Mapped[int] = mapped_column(Integer, default=0)
    disclosure_locked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    handoff_reason: Mapped[str | None] = mapped_column(String(40))
    # Last inbound message from this address: free text on WhatsApp only within 24 hours of it.
    last_inbound_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Messages the sender has written, counted at intake under its lock (``Message.ordinal``).
    inbound_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    contact: Mapped[Contact | None] = relationship()
    messages: Mapped[list[Message]] = relationship(back_populates="conversation", order_by="Message.id")


class Processing(enum.StrEnum):
    """Inbound messages wait as ``pending`` until the conversation's worker has run their turn."""

    PENDING = "pending"
    PROCESSED = "processed"


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_conversation_created", "conversation_id", "id"),
        Index("ix_messages_conversation_processing", "conversation_id", "processing"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    direction: Mapped[Direction] = mapped_column(_enum(Direction, "direction"))
    author: Mapped[Author] = mapped_column(_enum(Author, "author"))
    text: Mapped[str] = mapped_column(Text, default="")
    # Outbound: buttons, image and document links. Inbound: the content kind and what a number meant.
    payload: Mapped[dict | None] = mapped_column(JSON)
    # Inbound attachments as received: [{"url": ..., "content_type": ...}].
    media: Mapped[list | None] = mapped_column(JSON)
    # Inbound: the provider's id (MessageSid, update_id), unique so retries are dropped.
    # Outbound: the provider's id of the sent message, which status callbacks refer to.
    provider_message_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Outbound delivery: pending, queued, sent, delivered, read, undelivered, failed.
    status: Mapped[str | None] = mapped_column(String(20))
    error_code: Mapped[str | None] = mapped_column(String(20))
    error_message: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    processing: Mapped[Processing | None] = mapped_column(_enum(Processing, "processing"))
    # An inbound message's number in its conversation (1, 2, …; None: outbound, or stored before
    # numbering): a turn starts a new Rasa session every N messages without counting them.
    ordinal: Mapped[int | None] = mapped_column(Integer)
    # The inbound message whose turn produced this outbound one (None: collector, reminder).
    reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    conversation: Mapped[Conversation] = relationship(back_populates="messages")


class EarlyStatus(Base):
    """A provider status callback for a message id no Message carries yet: Twilio may call back
    before our send recorded the MessageSid. Applied (and deleted) when the send records it."""

    __tablename__ = "early_statuses"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_message_id: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(20))
    error_code: Mapped[str | None] = mapped_column(String(20))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class User(Base):
    """Staff: collectors and admins (debtor contacts never log in)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(_enum(Role, "role"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class PolicyVersion(Base):
    """An immutable version of the offer policy; the highest version is the one in force."""

    __tablename__ = "policy_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, unique=True)
    data: Mapped[dict] = mapped_column(JSON)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # What changed against the previous version: [{"path", "old", "new"}] (None for version 1).
    diff: Mapped[list | None] = mapped_column(JSON)
    # A rollback is a new version with an earlier one's content; this names that earlier one.
    restored_from: Mapped[int | None] = mapped_column(Integer)

    created_by: Mapped[User | None] = relationship()


class Quote(Base):
    """An offer made to a debtor, under the policy version and ladder step of its time."""

    __tablename__ = "quotes"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    debtor_id: Mapped[int] = mapped_column(ForeignKey("debtors.id"), index=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"), index=True)
    policy_version_id: Mapped[int] = mapped_column(ForeignKey("policy_versions.id"))
    step: Mapped[int] = mapped_column(Integer)
    final: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str] = mapped_column(String(40))
    invoice_ids: Mapped[list] = mapped_column(JSON)
    balance_total: Mapped[Decimal] = mapped_column(Money)
    # The offer as shown (cash option and plans), so an acceptance binds exactly what was offered.
    offer: Mapped[dict] = mapped_column(JSON)
    as_of: Mapped[date] = mapped_column(Date)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    policy_version: Mapped[PolicyVersion] = relationship()
    debtor: Mapped[Debtor] = relationship()


class Agreement(Base):
    __tablename__ = "agreements"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    debtor_id: Mapped[int] = mapped_column(ForeignKey("debtors.id"), index=True)
    # One agreement per accepted quote: accepting twice yields the same agreement.
    quote_id: Mapped[int | None] = mapped_column(ForeignKey("quotes.id"), unique=True)
    option: Mapped[str] = mapped_column(String(20))  # "cash" or "plan:<n>"
    status: Mapped[AgreementStatus] = mapped_column(
        _enum(AgreementStatus, "agreement_status"), default=AgreementStatus.ACTIVE
    )
    original_total: Mapped[Decimal] = mapped_column(Money)  # principal of the invoices covered
    updated_total: Mapped[Decimal] = mapped_column(Money)  # with multa and juros
    discount_amount: Mapped[Decimal] = mapped_column(Money)
    agreed_total: Mapped[Decimal] = mapped_column(Money)  # what the debtor will pay
    down_payment: Mapped[Decimal] = mapped_column(Money)
    monthly_interest_pct: Mapped[Decimal] = mapped_column(Numeric(6, 3))
    created_by: Mapped[str] = mapped_column(String(40), default="bot")  # "bot" or "user:<id>"
    # Acceptance evidence.
    channel: Mapped[str | None] = mapped_column(String(20))
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    message_id: Mapped[str | None] = mapped_column(String(64))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    accepted_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    terms_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    debtor: Mapped[Debtor] = relationship()
    installments: Mapped[list[AgreementInstallment]] = relationship(
        back_populates="agreement", order_by="AgreementInstallment.number"
    )
    invoices: Mapped[list[AgreementInvoice]] = relationship(back_populates="agreement")


class AgreementInstallment(Base):
    __tablename__ = "agreement_installments"
    __table_args__ = (UniqueConstraint("agreement_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id"))
    number: Mapped[int] = mapped_column(Integer)  # 0 = entrada (or the single cash payment)
    due_date: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money)
    txid: Mapped[str] = mapped_column(String(35), unique=True)
    pix_code: Mapped[str] = mapped_column(Text)
    status: Mapped[InstallmentStatus] = mapped_column(
        _enum(InstallmentStatus, "installment_status"), default=InstallmentStatus.OPEN
    )
    paid_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    paid_amount: Mapped[Decimal | None] = mapped_column(Money)
    end_to_end_id: Mapped[str | None] = mapped_column(String(40), unique=True)

    agreement: Mapped[Agreement] = relationship(back_populates="installments")


class AgreementInvoice(Base):
    """Which invoices an agreement covers. ``active_invoice_id`` is the invoice id while the
    agreement is active and NULL afterwards: its unique index makes two active agreements over
    one invoice impossible in the database itself, on SQLite and PostgreSQL alike."""

    __tablename__ = "agreement_invoices"
    __table_args__ = (UniqueConstraint("agreement_id", "invoice_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id"))
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    active_invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"), unique=True)
    principal: Mapped[Decimal] = mapped_column(Money)
    late_fee: Mapped[Decimal] = mapped_column(Money)
    interest: Mapped[Decimal] = mapped_column(Money)

    agreement: Mapped[Agreement] = relationship(back_populates="invoices")
    invoice: Mapped[Invoice] = relationship(foreign_keys=[invoice_id])


class PaymentEvent(Base):
    """Every payment notification received, kept as evidence; reconciled once by end-to-end id."""

    __tablename__ = "payment_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    end_to_end_id: Mapped[str] = mapped_column(String(40), unique=True)
    txid: Mapped[str | None] = mapped_column(String(35), index=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    paid_at: Mapped[datetime] = mapped_column(UtcDateTime)
    installment_id: Mapped[int | None] = mapped_column(ForeignKey("agreement_installments.id"))
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    outcome: Mapped[str] = mapped_column(String(20))  # matched, unmatched, amount_mismatch
    raw: Mapped[dict] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Handoff(Base):
    """A conversation handed to the collectors, with why and what they need to know."""

    __tablename__ = "handoffs"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    reason: Mapped[str] = mapped_column(String(40))
    summary: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    claimed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    resolution: Mapped[str | None] = mapped_column(String(20))  # released | closed

    conversation: Mapped[Conversation] = relationship()
    claimed_by: Mapped[User | None] = relationship(foreign_keys=[claimed_by_id])


class CollectorAuthority(Base):
    """What a collector may grant in a manual agreement (wider than the bot's policy); set by
    admins. A row with ``user_id`` NULL is the global default; a user's own row overrides it."""

    __tablename__ = "collector_authorities"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), unique=True)
    max_discount_pct: Mapped[Decimal] = mapped_column(Numeric(6, 3))
    max_installments: Mapped[int] = mapped_column(Integer)
    min_installment_amount: Mapped[Decimal] = mapped_column(Money)
    min_down_payment_pct: Mapped[Decimal] = mapped_column(Numeric(6, 3))
    monthly_interest_pct: Mapped[Decimal] = mapped_column(Numeric(6, 3))
    max_first_due_days: Mapped[int] = mapped_column(Integer)
    limit_amount: Mapped[Decimal] = mapped_column(Money)  # above this total, only admins agree
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class AuditEntry(Base):
    """Every staff action on a conversation, handoff, debtor or setting: who, what, when, on what."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_target", "target_type", "target_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    action: Mapped[str] = mapped_column(String(40))
    target_type: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class AppSetting(Base):
    """Admin-edited settings, one JSON document per section (working hours, contact hours,
    creditor identity); a missing section falls back to the environment's defaults."""

    __tablename__ = "app_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    value: Mapped[dict] = mapped_column(JSON)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class DunningRulesVersion(Base):
    """An immutable version of the dunning rules; the highest version is the one in force."""

    __tablename__ = "dunning_rule_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, unique=True)
    data: Mapped[dict] = mapped_column(JSON)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ScheduledReminder(Base):
    """One reminder of the dunning schedule: the durable record the job queue works from.
    ``idempotency_key`` (invoice | installment, step, contact) makes it exist, and be sent, once."""

    __tablename__ = "scheduled_reminders"
    __table_args__ = (
        Index("ix_scheduled_reminders_status_due", "status", "due_at"),
        Index("ix_scheduled_reminders_contact_sent", "contact_id", "sent_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    target: Mapped[str] = mapped_column(String(20))  # invoice | installment
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"), index=True)
    installment_id: Mapped[int | None] = mapped_column(ForeignKey("agreement_installments.id"), index=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    step_id: Mapped[str] = mapped_column(String(40))
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # scheduled → sending → sent | skipped | failed (a deferral moves due_at and stays scheduled).
    status: Mapped[str] = mapped_column(String(20), default="scheduled")
    reason: Mapped[str | None] = mapped_column(String(40))
    channel: Mapped[str | None] = mapped_column(String(20))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
