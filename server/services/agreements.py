"""A "yes" becomes an agreement: schedule, covered invoices, PIX codes and acceptance evidence.

Accepting is idempotent (one agreement per quote, enforced by a unique key) and two active
agreements can never cover the same invoice (a unique index on the active link).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from server.db.models import (
    Agreement,
    AgreementInstallment,
    AgreementInvoice,
    AgreementStatus,
    Contact,
    Conversation,
    Invoice,
    InvoiceStatus,
    Quote,
)
from server.domain.admin_settings import CreditorIdentity as PixIdentity
from server.domain.money import ZERO, updated_balance
from server.domain.offers import CashOption, InstallmentPlan, cash_violations, plan_violations
from server.domain.pix import StaticPix, encode_static
from server.domain.terms import (
    AcceptanceEvidence,
    CoveredInvoice,
    CreditorIdentity,
    DebtorIdentity,
    ScheduledInstallment,
    TermData,
    terms_sha256,
)
from server.services.app_settings import creditor_identity
from server.services.creditor import late_charge_rules
from server.services.negotiation import NegotiationError
from server.services.offer_codec import offer_from_dict, plan_from_dict
from server.services.policy import policy_of
from server.settings import Settings


@dataclass(frozen=True)
class Acceptance:
    """Who said yes, where: the evidence kept with the agreement."""

    channel: str | None
    conversation: Conversation | None
    message_id: str | None
    contact: Contact | None
    accepted_at: datetime


def quote_options(quote: Quote) -> dict[str, CashOption | InstallmentPlan]:
    """What a quote lets the debtor accept: "cash", "plan-1", "plan-2"... and "proposal"."""
    offer = offer_from_dict(quote.offer)
    options: dict[str, CashOption | InstallmentPlan] = {"cash": offer.cash}
    for index, plan in enumerate(offer.plans, start=1):
        options[f"plan-{index}"] = plan
    if quote.offer.get("proposed_plan"):
        options["proposal"] = plan_from_dict(quote.offer["proposed_plan"])
    return options


def txid_for(agreement_id: int, number: int) -> str:
    # Static BR Code txid: [A-Za-z0-9]{1,25}, unique per installment.
    return f"NEG{agreement_id:010d}P{number:03d}"


def _pix_code(identity: PixIdentity, txid: str, amount: Decimal) -> str:
    return encode_static(
        StaticPix(
            key=identity.pix_key,
            merchant_name=identity.merchant_name,
            merchant_city=identity.merchant_city,
            amount=amount,
            txid=txid,
        )
    )


def _schedule(option: CashOption | InstallmentPlan) -> list[tuple[int, date, Decimal]]:
    if isinstance(option, CashOption):
        return [(0, option.due_date, option.price)]
    rows = [(i.number, i.due_date, i.amount) for i in option.installments]
    if option.down_payment > 0 and option.down_payment_due is not None:
        rows.insert(0, (0, option.down_payment_due, option.down_payment))
    return rows


def term_data(agreement: Agreement, settings: Settings, acceptance: Acceptance | None = None) -> TermData:
    creditor = agreement.debtor.creditor
    covered = tuple(
        CoveredInvoice(
            number=link.invoice.number,
            due_date=link.invoice.due_date,
            principal=link.principal,
            late_fee=link.late_fee,
            interest=link.interest,
            updated_total=link.principal + link.late_fee + link.interest,
        )
        for link in sorted(agreement.invoices, key=lambda link: (link.invoice.due_date, link.invoice.number))
    )
    evidence = None
    if agreement.channel is not None:
        contact = acceptance.contact if acceptance else None
        evidence = AcceptanceEvidence(
            channel=agreement.channel,
            conversation_id=acceptance.conversation.public_id
            if acceptance and acceptance.conversation
            else "",
            message_id=agreement.message_id or "",
            contact_name=contact.name if contact else "",
            contact_phone=(contact.phone_e164 or "") if contact else "",
            accepted_at=agreement.accepted_at,
            terms_sha256=agreement.terms_sha256,
        )
    return TermData(
        agreement_id=agreement.public_id,
        creditor=CreditorIdentity(
            creditor.legal_name, creditor.cnpj, settings.creditor_address, settings.creditor_city
        ),
        debtor=DebtorIdentity(agreement.debtor.legal_name, agreement.debtor.cnpj),
        invoices=covered,
        original_total=agreement.original_total,
        updated_total=agreement.updated_total,
        discount_amount=agreement.discount_amount,
        agreed_total=agreement.updated_total - agreement.discount_amount,
        monthly_interest_pct=agreement.monthly_interest_pct,
        installments=tuple(
            ScheduledInstallment(i.number, i.due_date, i.amount, i.pix_code) for i in agreement.installments
        ),
        issued_at=agreement.accepted_at,
        evidence=evidence,
    )


def _existing(session: Session, quote: Quote) -> Agreement | None:
    return session.scalar(select(Agreement).where(Agreement.quote_id == quote.id))


def accept_quote(
    session: Session,
    quote: Quote,
    option_key: str,
    acceptance: Acceptance,
    settings: Settings,
    today: date,
) -> Agreement:
    """Create the agreement for ``quote`` (or return the one already made from it) and commit."""
    existing = _existing(session, quote)
    if existing is not None:
        if existing.option != option_key:
            raise NegotiationError("esta cotação já foi aceita com outra opção", status=409)
        return existing
    if acceptance.accepted_at >= quote.expires_at.replace(
        tzinfo=quote.expires_at.tzinfo or acceptance.accepted_at.tzinfo
    ):
        raise NegotiationError("cotação expirada: peça uma nova proposta", status=409)
    options = quote_options(quote)
    if option_key not in options:
        raise NegotiationError(f"opção inválida; use uma de: {', '.join(options)}")
    option = options[option_key]
    # The quote was checked when made; checked again against its own policy version now.
    rule = policy_of(quote.policy_version).rule_for(
        int(quote.offer["days_overdue"]), quote.debtor.segment, quote.balance_total
    )
    if rule is None:
        raise NegotiationError("nenhuma regra da política cobre esta dívida", status=409)
    broken = (
        cash_violations(option, rule, quote.balance_total, quote.as_of)
        if isinstance(option, CashOption)
        else plan_violations(option, rule, quote.balance_total, quote.as_of)
    )
    if broken:
        raise NegotiationError(f"opção fora da política: {', '.join(broken)}", status=409)
    try:
        agreement = create_agreement(session, quote, option_key, option, acceptance, settings)
        session.commit()
    except (IntegrityError, NegotiationError) as exc:
        # A concurrent acceptance of the same quote may have won (its agreement is then ours too),
        # or another agreement took one of the invoices.
        session.rollback()
        existing = _existing(session, quote)
        if existing is not None:
            if existing.option != option_key:
                raise NegotiationError("esta cotação já foi aceita com outra opção", status=409) from None
            return existing
        if isinstance(exc, NegotiationError):
            raise
        raise NegotiationError("as faturas desta cotação já estão em outro acordo", status=409) from None
    return agreement


def _invoices(session: Session, quote: Quote) -> Sequence[Invoice]:
    return session.scalars(select(Invoice).where(Invoice.id.in_(quote.invoice_ids))).all()


def create_agreement(
    session: Session,
    quote: Quote,
    option_key: str,
    option: CashOption | InstallmentPlan,
    acceptance: Acceptance,
    settings: Settings,
    created_by: str = "bot",
) -> Agreement:
    invoices = _invoices(session, quote)
    if len(invoices) != len(quote.invoice_ids) or any(i.status != InvoiceStatus.OPEN for i in invoices):
        raise NegotiationError("as faturas desta cotação não estão mais em aberto", status=409)
    rules = late_charge_rules(quote.debtor.creditor)
    balances = {i.id: updated_balance(i.principal, i.due_date, quote.as_of, rules) for i in invoices}
    discount = option.discount_amount if isinstance(option, CashOption) else ZERO
    agreement = Agreement(
        debtor_id=quote.debtor_id,
        quote_id=quote.id,
        option=option_key,
        status=AgreementStatus.ACTIVE,
        original_total=sum((i.principal for i in invoices), ZERO),
        updated_total=quote.balance_total,
        discount_amount=discount,
        agreed_total=sum((amount for _, _, amount in _schedule(option)), ZERO),
        down_payment=option.down_payment if isinstance(option, InstallmentPlan) else option.price,
        monthly_interest_pct=option.monthly_interest_pct if isinstance(option, InstallmentPlan) else ZERO,
        created_by=created_by,
        channel=acceptance.channel,
        conversation_id=acceptance.conversation.id if acceptance.conversation else None,
        message_id=acceptance.message_id,
        contact_id=acceptance.contact.id if acceptance.contact else None,
        accepted_at=acceptance.accepted_at,
        terms_sha256="",
    )
    session.add(agreement)
    session.flush()
    identity = creditor_identity(session, settings)  # admin-edited PIX key and BR Code names
    for number, due, amount in _schedule(option):
        txid = txid_for(agreement.id, number)
        session.add(
            AgreementInstallment(
                agreement_id=agreement.id, number=number, due_date=due, amount=amount, txid=txid,
                pix_code=_pix_code(identity, txid, amount),
            )
        )  # fmt: skip
    for invoice in invoices:
        b = balances[invoice.id]
        session.add(
            AgreementInvoice(
                agreement_id=agreement.id, invoice_id=invoice.id, active_invoice_id=invoice.id,
                principal=b.principal, late_fee=b.late_fee, interest=b.interest,
            )
        )  # fmt: skip
        invoice.status = InvoiceStatus.RENEGOTIATED
    session.flush()
    session.refresh(agreement, ["installments", "invoices", "debtor"])
    agreement.terms_sha256 = terms_sha256(term_data(agreement, settings))
    session.flush()
    return agreement


def load_agreement(session: Session, public_id: str) -> Agreement | None:
    stmt = (
        select(Agreement)
        .where(Agreement.public_id == public_id)
        .options(
            selectinload(Agreement.installments),
            selectinload(Agreement.invoices).selectinload(AgreementInvoice.invoice),
        )
    )
    return session.scalar(stmt)
