import hashlib
import unicodedata
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from server.domain.terms import (
    AcceptanceEvidence,
    CoveredInvoice,
    ScheduledInstallment,
    TermData,
    format_pct,
    render_terms_text,
    terms_sha256,
)
from tests.unit.term_samples import DEBTOR, PIX_CODE, sample_term, with_acceptance


def _replace_invoice(data: TermData, **changes: object) -> TermData:
    first = replace(data.invoices[0], **changes)  # type: ignore[arg-type]
    return replace(data, invoices=(first, *data.invoices[1:]))


def _replace_installment(data: TermData, index: int, **changes: object) -> TermData:
    items = list(data.installments)
    items[index] = replace(items[index], **changes)  # type: ignore[arg-type]
    return replace(data, installments=tuple(items))


def test_same_data_gives_the_same_text_and_hash() -> None:
    assert render_terms_text(sample_term()) == render_terms_text(sample_term())
    assert terms_sha256(sample_term()) == terms_sha256(sample_term())


def test_hash_is_sha256_of_the_utf8_text() -> None:
    data = sample_term()
    expected = hashlib.sha256(render_terms_text(data).encode("utf-8")).hexdigest()
    assert terms_sha256(data) == expected
    assert len(expected) == 64


CHANGES = {
    "invoice principal": lambda d: _replace_invoice(d, principal=Decimal("1000.01")),
    "invoice late fee": lambda d: _replace_invoice(d, late_fee=Decimal("20.01")),
    "invoice interest": lambda d: _replace_invoice(d, interest=Decimal("21.68")),
    "invoice updated total": lambda d: _replace_invoice(d, updated_total=Decimal("1041.68")),
    "invoice due date": lambda d: _replace_invoice(d, due_date=date(2026, 1, 11)),
    "invoice number": lambda d: _replace_invoice(d, number="NF-1003"),
    "original total": lambda d: replace(d, original_total=Decimal("3234.57")),
    "updated total": lambda d: replace(d, updated_total=Decimal("3346.26")),
    "discount": lambda d: replace(d, discount_amount=Decimal("100.01")),
    "agreed total": lambda d: replace(d, agreed_total=Decimal("3246.24")),
    "interest rate": lambda d: replace(d, monthly_interest_pct=Decimal("2.01")),
    "down payment amount": lambda d: _replace_installment(d, 0, amount=Decimal("650.01")),
    "installment amount": lambda d: _replace_installment(d, 2, amount=Decimal("1346.14")),
    "installment due date": lambda d: _replace_installment(d, 1, due_date=date(2026, 4, 21)),
    "issue date": lambda d: replace(d, issued_at=d.issued_at + timedelta(days=1)),
    "creditor cnpj": lambda d: replace(d, creditor=replace(d.creditor, cnpj="11444777000161")),
    "debtor name": lambda d: replace(d, debtor=replace(d.debtor, legal_name="Padaria Pão Dourado ME")),
    "agreement id": lambda d: replace(d, agreement_id=43),
}


@pytest.mark.parametrize("change", list(CHANGES.values()), ids=list(CHANGES))
def test_hash_changes_when_any_amount_date_or_party_changes(change) -> None:  # type: ignore[no-untyped-def]
    data = sample_term()
    assert terms_sha256(change(data)) != terms_sha256(data)


def test_evidence_and_pix_codes_are_not_part_of_the_hashed_text() -> None:
    data = sample_term()
    accepted = with_acceptance(data)
    assert accepted.evidence is not None
    assert terms_sha256(accepted) == terms_sha256(data)
    text = render_terms_text(accepted)
    for value in (
        accepted.evidence.conversation_id,
        accepted.evidence.message_id,
        accepted.evidence.contact_name,
        accepted.evidence.contact_phone,
        accepted.evidence.terms_sha256,
        PIX_CODE,
    ):
        assert value not in text
    without_pix = replace(data, installments=tuple(replace(i, pix_code=None) for i in data.installments))
    assert terms_sha256(without_pix) == terms_sha256(data)


def test_text_is_brazilian_portuguese_with_brazilian_formats() -> None:
    text = render_terms_text(sample_term())
    assert text.startswith("TERMO DE ACORDO E CONFISSÃO DE DÍVIDA\n")
    for expected in (
        "CREDORA: Distribuidora São João Ltda, inscrita no CNPJ sob o nº 11.222.333/0001-81",
        "com sede em Av. Brasil, 1000, Sala 12, Centro, São Paulo/SP.",
        "DEVEDORA: Padaria Pão Dourado Ltda, inscrita no CNPJ sob o nº 12.345.678/0001-95.",
        "reconhece o débito e confessa dever à CREDORA a quantia de R$ 3.346,25",
        "valor original de R$ 3.234,56",
        "Fatura NF-1002, vencimento 10/02/2026: valor original R$ 2.234,56; multa R$ 44,69; "
        "juros de mora R$ 25,33; valor atualizado R$ 2.304,58.",
        "desconto de R$ 100,00 sobre o valor atualizado",
        "fixam o valor do acordo em R$ 3.246,25.",
        "- Entrada: R$ 650,00, vencimento em 20/03/2026.",
        "- Parcela 1 de 2: R$ 1.346,12, vencimento em 20/04/2026.",
        "- Parcela 2 de 2: R$ 1.346,13, vencimento em 20/05/2026.",
        "juros de 2% ao mês",
        "a soma dos pagamentos é de R$ 3.342,25.",
        "até 5 (cinco) dias após o respectivo vencimento implica o vencimento antecipado do saldo",
        "restabelecimento do valor original da dívida, descontados os valores pagos",
        "foro da comarca de São Paulo/SP",
        "São Paulo/SP, 15/03/2026.",
    ):
        assert expected in text, expected


def test_text_uses_no_threatening_or_float_like_amounts() -> None:
    text = render_terms_text(sample_term()).lower()
    for word in ("prisão", "polícia", "crime", "processo criminal", "3346.25", "3.346.25"):
        assert word not in text


def test_text_can_be_drawn_with_pdf_core_fonts() -> None:
    render_terms_text(sample_term()).encode("latin-1")


def test_issue_date_is_the_date_in_brasilia() -> None:
    # 02:30 UTC on the 16th is still the 15th in São Paulo.
    data = replace(sample_term(), issued_at=datetime(2026, 3, 16, 2, 30, tzinfo=UTC))
    text = render_terms_text(data)
    assert "emitido em 15/03/2026" in text
    assert "São Paulo/SP, 15/03/2026." in text


def test_cash_payment_without_discount_or_interest() -> None:
    data = replace(
        sample_term(),
        discount_amount=Decimal("0.00"),
        agreed_total=Decimal("3346.25"),
        monthly_interest_pct=Decimal("0"),
        installments=(ScheduledInstallment(1, date(2026, 3, 20), Decimal("3346.25")),),
    )
    text = render_terms_text(data)
    assert "Não há desconto sobre o valor atualizado" in text
    assert "- Parcela única: R$ 3.346,25, vencimento em 20/03/2026." in text
    assert "Não incidem juros sobre o parcelamento" in text
    assert "Entrada" not in text


def test_interest_rate_is_not_mentioned_without_installments() -> None:
    data = replace(
        sample_term(), installments=(ScheduledInstallment(0, date(2026, 3, 20), Decimal("3246.25")),)
    )
    assert "Não incidem juros" in render_terms_text(data)


def test_decomposed_accents_hash_like_precomposed_ones() -> None:
    data = sample_term()
    decomposed = replace(
        data, debtor=replace(DEBTOR, legal_name=unicodedata.normalize("NFD", DEBTOR.legal_name))
    )
    assert terms_sha256(decomposed) == terms_sha256(data)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2", "2%"), ("1.5", "1,5%"), ("1.99", "1,99%"), ("10", "10%"), ("0", "0%"), ("1.005", "1,01%")],
)
def test_format_pct(value: str, expected: str) -> None:
    assert format_pct(Decimal(value)) == expected


def test_money_must_be_decimal() -> None:
    with pytest.raises(TypeError):
        CoveredInvoice("1", date(2026, 1, 1), 10.0, Decimal("0"), Decimal("0"), Decimal("10"))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ScheduledInstallment(1, date(2026, 1, 1), 10.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        replace(sample_term(), agreed_total=3246.25)


def test_term_needs_a_payment_and_evidence_an_aware_timestamp() -> None:
    with pytest.raises(ValueError):
        replace(sample_term(), installments=())
    with pytest.raises(ValueError):
        AcceptanceEvidence("whatsapp", "c", "m", "n", "+55", datetime(2026, 3, 15, 10, 0), "0" * 64)
