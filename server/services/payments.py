"""PIX payment confirmations reconciled with agreement installments, idempotently.

Every notification is recorded once by its end-to-end id (the PSP may deliver it twice); a
matching txid and amount pays the installment; when every installment is paid the agreement and
its invoices are paid. Anything that does not match is kept for a person to look at.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.adapters.psp import PixPayment
from server.db.models import (
    Agreement,
    AgreementInstallment,
    AgreementInvoice,
    AgreementStatus,
    InstallmentStatus,
    Invoice,
    InvoiceStatus,
    PaymentEvent,
)
from server.domain.money import updated_balance
from server.services.creditor import late_charge_rules


class PaymentOutcome(enum.StrEnum):
    MATCHED = "matched"
    DUPLICATE = "duplicate"
    UNMATCHED = "unmatched"  # no installment with that txid
    AMOUNT_MISMATCH = "amount_mismatch"
    ALREADY_PAID = "already_paid"


@dataclass(frozen=True)
class Reconciliation:
    end_to_end_id: str
    outcome: PaymentOutcome
    agreement_id: str | None = None
    installment: int | None = None
    installment_id: int | None = None
    invoice_id: int | None = None  # a PIX of an invoice's own code (sent with its reminders)
    handoff_reason: str | None = None  # partial or wrong amount: a collector looks at it


HandoffHook = Callable[[Session, Reconciliation, PixPayment, Decimal], None]


def reconcile(
    session: Session,
    payment: PixPayment,
    raw: dict[str, object],
    now: datetime,
    on_mismatch: HandoffHook | None = None,
) -> Reconciliation:
    """Record and apply one payment and commit; the same end-to-end id twice pays once.
    ``on_mismatch`` runs in the same transaction for a partial or wrong-amount payment."""
    try:
        result = _reconcile(session, payment, raw, now)
        if result.handoff_reason and on_mismatch is not None:
            on_mismatch(session, result, payment, _expected(session, result, payment))
        session.commit()
    except IntegrityError:
        # The same notification processed at the same moment by another worker.
        session.rollback()
        return Reconciliation(payment.end_to_end_id, PaymentOutcome.DUPLICATE)
    return result


def _reconcile(
    session: Session, payment: PixPayment, raw: dict[str, object], now: datetime
) -> Reconciliation:
    seen = session.scalar(select(PaymentEvent).where(PaymentEvent.end_to_end_id == payment.end_to_end_id))
    if seen is not None:
        return Reconciliation(payment.end_to_end_id, PaymentOutcome.DUPLICATE)
    installment = (
        session.scalar(select(AgreementInstallment).where(AgreementInstallment.txid == payment.txid))
        if payment.txid
        else None
    )
    invoice = (
        session.scalar(select(Invoice).where(Invoice.txid == payment.txid))
        if payment.txid and installment is None
        else None
    )
    if invoice is not None:
        outcome = _apply_invoice(session, invoice, payment)
        expected = _invoice_due(invoice, payment)
    else:
        outcome = _apply(session, installment, payment)
        expected = installment.amount if installment else payment.amount
    event = PaymentEvent(
        end_to_end_id=payment.end_to_end_id,
        txid=payment.txid,
        amount=payment.amount,
        paid_at=payment.paid_at,
        installment_id=installment.id if installment else None,
        invoice_id=invoice.id if invoice else None,
        outcome=outcome.value,
        raw=raw,
        received_at=now,
    )
    session.add(event)
    session.flush()  # a concurrent twin fails here on the unique end-to-end id
    agreement = installment.agreement if installment else None
    reason = None
    if outcome == PaymentOutcome.AMOUNT_MISMATCH:
        reason = "partial_payment" if payment.amount < expected else "wrong_amount"
    return Reconciliation(
        payment.end_to_end_id, outcome, agreement.public_id if agreement else None,
        installment.number if installment else None, installment.id if installment else None,
        invoice.id if invoice else None, reason,
    )  # fmt: skip


def _invoice_due(invoice: Invoice, payment: PixPayment) -> Decimal:
    """What the invoice's PIX should carry on the day it was paid (principal + multa + juros)."""
    paid_on = payment.paid_at.astimezone(ZoneInfo("America/Sao_Paulo")).date()
    return updated_balance(
        invoice.principal, invoice.due_date, paid_on, late_charge_rules(invoice.debtor.creditor)
    ).total


def _expected(session: Session, result: Reconciliation, payment: PixPayment) -> Decimal:
    if result.invoice_id is not None:
        invoice = session.get(Invoice, result.invoice_id)
        assert invoice is not None
        return _invoice_due(invoice, payment)
    installment = session.get(AgreementInstallment, result.installment_id)
    return installment.amount if installment else payment.amount


def _apply_invoice(session: Session, invoice: Invoice, payment: PixPayment) -> PaymentOutcome:
    if invoice.status == InvoiceStatus.PAID:
        return PaymentOutcome.ALREADY_PAID
    if invoice.status != InvoiceStatus.OPEN or payment.amount != _invoice_due(invoice, payment):
        # Renegotiated invoices are paid through their agreement; anything else is a person's call.
        return PaymentOutcome.AMOUNT_MISMATCH
    invoice.status = InvoiceStatus.PAID
    invoice.paid_at = payment.paid_at
    invoice.paid_amount = payment.amount
    session.flush()
    return PaymentOutcome.MATCHED


def _apply(session: Session, installment: AgreementInstallment | None, payment: PixPayment) -> PaymentOutcome:
    if installment is None:
        return PaymentOutcome.UNMATCHED
    if installment.status == InstallmentStatus.PAID:
        return PaymentOutcome.ALREADY_PAID
    if payment.amount != installment.amount:
        return PaymentOutcome.AMOUNT_MISMATCH
    installment.status = InstallmentStatus.PAID
    installment.paid_at = payment.paid_at
    installment.paid_amount = payment.amount
    installment.end_to_end_id = payment.end_to_end_id
    session.flush()
    _settle_if_complete(session, installment.agreement)
    return PaymentOutcome.MATCHED


def _settle_if_complete(session: Session, agreement: Agreement) -> None:
    if any(i.status != InstallmentStatus.PAID for i in agreement.installments):
        return
    agreement.status = AgreementStatus.PAID
    for link in session.scalars(
        select(AgreementInvoice).where(AgreementInvoice.agreement_id == agreement.id)
    ):
        link.invoice.status = InvoiceStatus.PAID
        link.active_invoice_id = None  # no longer active: the invoice is settled
    session.flush()
