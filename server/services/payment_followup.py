"""What follows a reconciled PIX: reminders stop, the debtor is thanked on their channel, and a
partial or wrong-amount payment goes to a collector."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.channels.base import OutboundChannel
from bot.outbox import Outbox
from server.adapters.psp import PixPayment
from server.db.models import (
    Agreement,
    AgreementInstallment,
    AgreementInvoice,
    Author,
    Channel,
    Contact,
    Conversation,
    Invoice,
)
from server.domain.dunning import Decision, Template
from server.domain.formatting import format_brl
from server.services import dunning_texts as texts
from server.services.dunning import (
    compose,
    conversation_for,
    document_for,
    first_name,
    handoff_for,
    route_for,
)
from server.services.dunning import stop_reminders as _stop
from server.services.payments import HandoffHook, PaymentOutcome, Reconciliation
from server.settings import Settings

SESSION_WINDOW = timedelta(hours=24)


def _subject(session: Session, result: Reconciliation) -> tuple[Agreement | None, list[Contact], str]:
    """The agreement (if any), the contacts to talk to, and the document paid."""
    if result.installment_id is not None:
        installment = session.get(AgreementInstallment, result.installment_id)
        assert installment is not None
        agreement = installment.agreement
        contacts = (
            [c for c in [session.get(Contact, agreement.contact_id)] if c is not None]
            if agreement.contact_id
            else list(agreement.debtor.contacts)
        )
        return agreement, contacts, document_for(installment)
    invoice = session.get(Invoice, result.invoice_id)
    assert invoice is not None
    return None, list(invoice.debtor.contacts), texts.DOCUMENT_INVOICE.format(number=invoice.number)


def mismatch_handoff(channels: Iterable[Channel]) -> HandoffHook:
    enabled = list(channels)

    def hook(session: Session, result: Reconciliation, payment: PixPayment, expected: Decimal) -> None:
        if result.invoice_id is None and result.installment_id is None:
            return
        agreement, contacts, document = _subject(session, result)
        template = (
            texts.NOTE_PARTIAL if result.handoff_reason == "partial_payment" else texts.NOTE_WRONG_AMOUNT
        )
        note = template.format(
            paid=format_brl(payment.amount), document=document, expected=format_brl(expected)
        )
        handoff_for(session, agreement, contacts, result.handoff_reason or "partial_payment", payment.paid_at,
                     note, enabled)  # fmt: skip

    return hook


def stop_reminders(session: Session, result: Reconciliation) -> int:
    """Reminders of the paid installment (and of the invoices of a settled agreement) end."""
    if result.invoice_id is not None:
        return _stop(session, invoice_ids=[result.invoice_id])
    installment = session.get(AgreementInstallment, result.installment_id)
    if installment is None:
        return 0
    invoice_ids = list(
        session.scalars(
            select(AgreementInvoice.invoice_id).where(
                AgreementInvoice.agreement_id == installment.agreement_id
            )
        )
    )
    return _stop(session, installment_ids=[installment.id], invoice_ids=invoice_ids)


def thank(
    session_factory: sessionmaker[Session],
    outbox: Outbox,
    channels: Mapping[Channel, OutboundChannel],
    settings: Settings,
    catalogue: Mapping[str, Template],
    result: Reconciliation,
    now: datetime,
) -> int | None:
    """Stops the debt's reminders and thanks the debtor on their channel (the agreement's
    conversation when there is one); a template outside WhatsApp's 24-hour window."""
    if result.outcome != PaymentOutcome.MATCHED:
        return None
    with session_factory() as session:
        stop_reminders(session, result)
        agreement, contacts, document = _subject(session, result)
        session.commit()
        amount = _paid_amount(session, result)
        conversation = (
            session.get(Conversation, agreement.conversation_id)
            if agreement and agreement.conversation_id
            else None
        )
        contact = next((c for c in contacts if c.opted_out_at is None), None)
        if conversation is None and contact is not None:
            route = route_for(contact, channels)
            if route is not None:
                conversation = conversation_for(session, *route)
                session.commit()
        if conversation is None:
            return None
        if conversation.contact is not None:
            contact = conversation.contact
        within = (
            conversation.last_inbound_at is not None and now - conversation.last_inbound_at < SESSION_WINDOW
        )
        template = catalogue.get(texts.THANKS_TEMPLATE)
        decision = (
            Decision.SEND_TEXT
            if within or conversation.channel == Channel.TELEGRAM
            else Decision.SEND_TEMPLATE
        )
        values = {
            "creditor": settings.creditor_trade_name, "contact_name": first_name(contact.name) if contact else "",
            "document": document, "amount": format_brl(amount),
        }  # fmt: skip
        if template is None:
            decision = Decision.SEND_TEXT
            template = Template("", "", {}, "")
        message, _ = compose(decision, template, texts.PAYMENT_THANKS, values)
        public_id = conversation.public_id
    return outbox.send_message(public_id, message, author=Author.SYSTEM)


def _paid_amount(session: Session, result: Reconciliation) -> Decimal:
    if result.installment_id is not None:
        installment = session.get(AgreementInstallment, result.installment_id)
        return installment.paid_amount or installment.amount if installment else Decimal(0)
    invoice = session.get(Invoice, result.invoice_id)
    return (invoice.paid_amount or invoice.principal) if invoice else Decimal(0)
