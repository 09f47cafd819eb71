import io
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

from pypdf import PdfReader

from server.adapters.term_pdf import latin1, render_term_pdf
from server.domain.formatting import format_brl, format_date
from server.domain.terms import TermData, terms_sha256
from tests.unit.term_samples import CREDITOR, DEBTOR, long_term, sample_term

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _pages_text(pdf: bytes) -> list[str]:
    reader = PdfReader(io.BytesIO(pdf))
    return [re.sub(r"\s+", " ", page.extract_text().replace("\xa0", " ")) for page in reader.pages]


def _text(pdf: bytes) -> str:
    return " ".join(_pages_text(pdf))


def test_pdf_has_the_parties_schedule_and_evidence() -> None:
    data = sample_term(with_evidence=True)
    pdf = render_term_pdf(data)
    assert pdf.startswith(b"%PDF")
    text = _text(pdf)
    assert "TERMO DE ACORDO E CONFISSÃO DE DÍVIDA" in text
    assert "11.222.333/0001-81" in text
    assert "12.345.678/0001-95" in text
    assert "Distribuidora São João Ltda" in text
    assert "Padaria Pão Dourado Ltda" in text
    assert "Av. Brasil, 1000, Sala 12, Centro, São Paulo/SP" in text
    for invoice in data.invoices:
        assert invoice.number in text
        assert format_brl(invoice.principal) in text
        assert format_brl(invoice.updated_total) in text
    for installment in data.installments:
        assert format_brl(installment.amount) in text
        assert format_date(installment.due_date) in text
    assert "Entrada" in text and "Parcela 2 de 2" in text
    assert "2% ao mês" in text
    assert "vencimento antecipado do saldo" in text
    assert "Evidência de aceite" in text
    assert "WhatsApp" in text
    assert "conv-7f3a9c" in text
    assert "SM0123456789abcdef0123456789abcdef" in text
    assert "Maria da Conceição" in text
    # 13:05 UTC is 10:05 in São Paulo.
    assert "15/03/2026 10:05" in text
    assert data.evidence is not None
    assert data.evidence.terms_sha256 in text
    assert "diferente do texto aceito" not in text


def test_draft_without_evidence_or_pix_codes() -> None:
    data = sample_term()
    draft = replace(data, installments=tuple(replace(i, pix_code=None) for i in data.installments))
    text = _text(render_term_pdf(draft))
    assert "Evidência de aceite" not in text
    assert "Padaria Pão Dourado Ltda" in text
    assert "será enviado pela CREDORA" in text


def test_pdf_warns_when_the_data_no_longer_matches_the_accepted_text() -> None:
    data = sample_term(with_evidence=True)
    assert data.evidence is not None
    stale = replace(data, evidence=replace(data.evidence, terms_sha256="ab" * 32))
    text = _text(render_term_pdf(stale))
    assert "ab" * 32 in text
    assert terms_sha256(data) in text
    assert "diferente do texto aceito" in text


def test_long_schedule_spans_several_pages() -> None:
    data = long_term(24)
    pdf = render_term_pdf(data)
    pages = _pages_text(pdf)
    assert len(pages) >= 2
    assert "página 1 de" in pages[0]
    text = " ".join(pages)
    for installment in data.installments:
        assert format_brl(installment.amount) in text
        assert format_date(installment.due_date) in text
    assert "Parcela 24 de 24" in text
    assert "Evidência de aceite" in text


def test_pdf_is_deterministic() -> None:
    data = sample_term(with_evidence=True)
    assert render_term_pdf(data) == render_term_pdf(data)


def test_characters_outside_latin1_do_not_break_the_pdf() -> None:
    data = replace(
        sample_term(with_evidence=True),
        creditor=replace(CREDITOR, legal_name="Café “Bom Gosto” – Comércio • Ltda ≠ 😀"),
        debtor=replace(DEBTOR, legal_name="Açougue D’Ávila Ltda"),
    )
    text = _text(render_term_pdf(data))
    assert 'Café "Bom Gosto" - Comércio - Ltda != ?' in text
    assert "Açougue D'Ávila Ltda" in text


def test_latin1_keeps_portuguese_letters() -> None:
    assert latin1("ÁÀÂÃÉÊÍÓÔÕÚÇáàâãéêíóôõúç nº §") == "ÁÀÂÃÉÊÍÓÔÕÚÇáàâãéêíóôõúç nº §"


def _save_sample(data: TermData) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "termo-exemplo.pdf"
    path.write_bytes(render_term_pdf(data))
    return path


def test_sample_pdf_is_saved_and_renders() -> None:
    path = _save_sample(long_term(12))
    assert path.read_bytes().startswith(b"%PDF")
    # make setup installs Debian's poppler-utils for this.
    assert shutil.which("pdftoppm"), "pdftoppm missing: run make setup (installs poppler-utils)"
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(path), str(ARTIFACTS / "termo-exemplo")],
        check=True,
        timeout=60,
    )
    assert any(ARTIFACTS.glob("termo-exemplo*.png"))
