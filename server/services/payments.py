"""PIX payment confirmations reconciled with agreement installments, idempotently.

Every notification is recorded once by its end-to-end id (the PSP may deliver it twice); a
matching txid and amount pays the installment; when every installment is paid the agreement and
its invoices are paid. Anything that does not match is kept for a person to look at.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

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
    InvoiceStatus,
    PaymentEvent,
)


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


def reconcile(session: Session, payment: PixPayment, raw: dict[str, object], now: datetime) -> Reconciliation:
    """Record and apply one payment and commit; the same end-to-end id twice pays once."""
    try:
        result = _reconcile(session, payment, raw, now)
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
    outcome = _apply(session, installment, payment)
    event = PaymentEvent(
        end_to_end_id=payment.end_to_end_id,
        txid=payment.txid,
        amount=payment.amount,
        paid_at=payment.paid_at,
        installment_id=installment.id if installment else None,
        outcome=outcome.value,
        raw=raw,
        received_at=now,
    )
    session.add(event)
    session.flush()  # a concurrent twin fails here on the unique end-to-end id
    agreement = installment.agreement if installment else None
    return Reconciliation(
        payment.end_to_end_id, outcome, agreement.public_id if agreement else None,
        installment.number if installment else None,
    )  # fmt: skip


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
