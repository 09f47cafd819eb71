"""Sample termos de acordo shared by the term text and PDF tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

from server.domain.terms import (
    AcceptanceEvidence,
    CoveredInvoice,
    CreditorIdentity,
    DebtorIdentity,
    ScheduledInstallment,
    TermData,
    terms_sha256,
)

CREDITOR = CreditorIdentity(
    legal_name="Distribuidora São João Ltda",
    cnpj="11222333000181",
    address="Av. Brasil, 1000, Sala 12, Centro",
    city="São Paulo/SP",
)
DEBTOR = DebtorIdentity(legal_name="Padaria Pão Dourado Ltda", cnpj="12345678000195")

PIX_CODE = (
    "00020101021226830014br.gov.bcb.pix2561pix.exemplo.com.br/qr/v2/cobv/9d36b84fc70b478fb95c12729b90ca25"
    "5204000053039865802BR5925DISTRIBUIDORA SAO JOAO LT6009SAO PAULO62070503***6304B14F"
)


def sample_term(*, with_evidence: bool = False) -> TermData:
    data = TermData(
        agreement_id=42,
        creditor=CREDITOR,
        debtor=DEBTOR,
        invoices=(
            CoveredInvoice(
                "NF-1001",
                date(2026, 1, 10),
                Decimal("1000.00"),
                Decimal("20.00"),
                Decimal("21.67"),
                Decimal("1041.67"),
            ),
            CoveredInvoice(
                "NF-1002",
                date(2026, 2, 10),
                Decimal("2234.56"),
                Decimal("44.69"),
                Decimal("25.33"),
                Decimal("2304.58"),
            ),
        ),
        original_total=Decimal("3234.56"),
        updated_total=Decimal("3346.25"),
        discount_amount=Decimal("100.00"),
        agreed_total=Decimal("3246.25"),
        monthly_interest_pct=Decimal("2"),
        installments=(
            ScheduledInstallment(0, date(2026, 3, 20), Decimal("650.00"), PIX_CODE),
            ScheduledInstallment(1, date(2026, 4, 20), Decimal("1346.12"), PIX_CODE),
            ScheduledInstallment(2, date(2026, 5, 20), Decimal("1346.13"), PIX_CODE),
        ),
        issued_at=datetime(2026, 3, 15, 13, 0, tzinfo=UTC),
    )
    if with_evidence:
        data = with_acceptance(data)
    return data


def with_acceptance(data: TermData) -> TermData:
    evidence = AcceptanceEvidence(
        channel="whatsapp",
        conversation_id="conv-7f3a9c",
        message_id="SM0123456789abcdef0123456789abcdef",
        contact_name="Maria da Conceição",
        contact_phone="+5531991234567",
        accepted_at=datetime(2026, 3, 15, 13, 5, 30, tzinfo=UTC),
        terms_sha256=terms_sha256(data),
    )
    return replace(data, evidence=evidence)


def long_term(installments: int = 24) -> TermData:
    """An entrada and ``installments`` parcelas, each with a long PIX code."""
    base = sample_term()
    schedule = [ScheduledInstallment(0, date(2026, 3, 20), Decimal("500.00"), PIX_CODE + "0" * 60)]
    for n in range(1, installments + 1):
        month = 3 + n
        due = date(2026 + (month - 1) // 12, (month - 1) % 12 + 1, 20)
        schedule.append(ScheduledInstallment(n, due, Decimal("150.00") + n, PIX_CODE + f"{n:04d}" * 15))
    return with_acceptance(replace(base, installments=tuple(schedule)))
