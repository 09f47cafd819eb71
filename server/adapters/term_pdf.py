"""The termo de acordo as an A4 PDF (fpdf2), from the same sections as the text the debtor accepts.

Only fpdf2's core fonts (Helvetica, Courier) are used: no font files to ship, and they cover
Latin-1, so every Portuguese letter. Anything outside Latin-1 that arrives in names or addresses
(curly quotes, dashes from ERP exports) is mapped to a plain equivalent first, since a core font
cannot draw it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from datetime import UTC
from decimal import Decimal

from fpdf import FPDF, FontFace
from fpdf.enums import TableBordersLayout, WrapMode, XPos, YPos
from fpdf.table import Table

from server.domain import terms as t
from server.domain.cnpj import format_cnpj
from server.domain.formatting import format_brl, format_date

_MARGIN = 18.0
_BODY_SIZE = 9.5
_LINE = 4.6
_INK = (33, 37, 41)
_ACCENT = (22, 58, 102)
_MUTED = (105, 112, 120)
_HEAD_FILL = (226, 233, 242)
_ZEBRA_FILL = (246, 248, 251)
_BOX_FILL = (243, 246, 250)
_PIX_STYLE = FontFace(family="Courier", size_pt=6.2, color=_INK)
_HEADINGS_STYLE = FontFace(emphasis="BOLD", color=_ACCENT, fill_color=_HEAD_FILL)
_TOTAL_STYLE = FontFace(emphasis="BOLD")

_PLAIN = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u2022": "-",
        "\u2026": "...",
        "\u2260": "!=",
        "\u200b": "",
        "\u202f": " ",
        "\u20ac": "EUR",
    }
)


def latin1(text: str) -> str:
    """What a core font can draw: typographic punctuation made plain, anything else as '?'."""
    plain = unicodedata.normalize("NFC", text).translate(_PLAIN)
    return plain.encode("latin-1", "replace").decode("latin-1")


class _TermPDF(FPDF):
    def __init__(self, agreement_id: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self._agreement_id = agreement_id

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("Helvetica", "", 7.5)
        self.set_text_color(*_MUTED)
        # fpdf2 replaces its alias with the page count when the document is closed.
        text = t.PAGE_FOOTER.format(
            agreement_id=self._agreement_id, page=self.page_no(), pages=self.str_alias_nb_pages
        )
        self.cell(0, 5, latin1(text), align="C")


def render_term_pdf(data: t.TermData) -> bytes:
    pdf = _new_document(data)
    _title(pdf, data)
    _parties(pdf, data)
    for section in t.term_sections(data):
        _section(pdf, data, section)
    _place_and_date(pdf, data)
    if data.evidence is not None:
        _evidence(pdf, data, data.evidence)
    return bytes(pdf.output())


def _new_document(data: t.TermData) -> _TermPDF:
    pdf = _TermPDF(str(data.agreement_id))
    pdf.set_margins(_MARGIN, _MARGIN, _MARGIN)
    pdf.set_auto_page_break(auto=True, margin=18)
    issued = data.issued_at if data.issued_at.utcoffset() is not None else data.issued_at.replace(tzinfo=UTC)
    # Fixed metadata, so the same agreement always yields the same bytes.
    pdf.set_creation_date(issued)
    pdf.set_title(latin1(f"{t.TITLE} - {data.agreement_id}"))
    pdf.set_author(latin1(data.creditor.legal_name))
    pdf.set_creator("negocia")
    pdf.set_lang("pt-BR")
    pdf.add_page()
    pdf.set_text_color(*_INK)
    return pdf


def _title(pdf: FPDF, data: t.TermData) -> None:
    title, subtitle = t.title_lines(data)
    pdf.set_font("Helvetica", "B", 8.5)
    pdf.set_text_color(*_MUTED)
    pdf.cell(0, 4, latin1(data.creditor.legal_name.upper()), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)
    pdf.set_font("Helvetica", "B", 15)
    pdf.set_text_color(*_ACCENT)
    pdf.cell(0, 8, latin1(title), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "", 9)
    pdf.set_text_color(*_MUTED)
    pdf.cell(0, 5, latin1(subtitle), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)
    _rule(pdf)
    pdf.set_text_color(*_INK)


def _rule(pdf: FPDF) -> None:
    pdf.set_draw_color(*_ACCENT)
    pdf.set_line_width(0.4)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
    pdf.set_line_width(0.2)
    pdf.set_draw_color(190, 198, 208)
    pdf.ln(4)


def _heading(pdf: FPDF, text: str) -> None:
    # Keep a heading with at least a few lines of its section.
    if pdf.get_y() > pdf.h - pdf.b_margin - 25:
        pdf.add_page()
    pdf.ln(2)
    pdf.set_font("Helvetica", "B", 10.5)
    pdf.set_text_color(*_ACCENT)
    pdf.cell(0, 6, latin1(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(*_INK)
    pdf.ln(0.5)


def _paragraph(pdf: FPDF, text: str) -> None:
    pdf.set_font("Helvetica", "", _BODY_SIZE)
    # A no-break space keeps "R$" on the same line as its amount.
    text = text.replace("R$ ", "R$\u00a0")
    pdf.multi_cell(0, _LINE, latin1(text), align="J", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(1.5)


def _parties(pdf: FPDF, data: t.TermData) -> None:
    _heading(pdf, t.PARTIES_HEADING)
    creditor, debtor = data.creditor, data.debtor
    creditor_text = "\n".join(
        (
            creditor.legal_name,
            f"{t.CNPJ_LABEL}: {format_cnpj(creditor.cnpj)}",
            f"{t.ADDRESS_LABEL}: {creditor.address}, {creditor.city}",
        )
    )
    debtor_text = "\n".join((debtor.legal_name, f"{t.CNPJ_LABEL}: {format_cnpj(debtor.cnpj)}"))
    pdf.set_font("Helvetica", "", _BODY_SIZE)
    with pdf.table(
        col_widths=(1, 1),
        text_align="LEFT",
        line_height=_LINE + 0.4,
        headings_style=_HEADINGS_STYLE,
        borders_layout=TableBordersLayout.ALL,
        padding=(1.5, 2.5),
        v_align="TOP",
    ) as table:
        _row(table, (t.CREDITOR_LABEL.upper(), t.DEBTOR_LABEL.upper()))
        _row(table, (creditor_text, debtor_text))
    pdf.ln(2)


def _section(pdf: FPDF, data: t.TermData, section: t.Section) -> None:
    _heading(pdf, section.title)
    for paragraph in section.paragraphs:
        _paragraph(pdf, paragraph)
    if section.listing is t.Listing.INVOICES:
        _invoices_table(pdf, data)
    elif section.listing is t.Listing.SUMMARY:
        _summary_table(pdf, data)
    elif section.listing is t.Listing.SCHEDULE:
        _schedule_table(pdf, data)
    for paragraph in section.closing:
        _paragraph(pdf, paragraph)


def _row(table: Table, cells: Sequence[str], style: FontFace | None = None) -> None:
    row = table.row()
    for text in cells:
        row.cell(latin1(text), style=style)


def _invoices_table(pdf: FPDF, data: t.TermData) -> None:
    pdf.set_font("Helvetica", "", 8.5)
    with pdf.table(
        col_widths=(26, 20, 22, 16, 16, 24),
        text_align=("LEFT", "CENTER", "RIGHT", "RIGHT", "RIGHT", "RIGHT"),
        line_height=4.6,
        headings_style=_HEADINGS_STYLE,
        borders_layout=TableBordersLayout.HORIZONTAL_LINES,
        cell_fill_color=_ZEBRA_FILL,
        cell_fill_mode="ROWS",
        repeat_headings=1,
        padding=(1, 1.5),
    ) as table:
        _row(table, t.INVOICE_HEADERS)
        for inv in data.invoices:
            cells = (
                inv.number,
                format_date(inv.due_date),
                format_brl(inv.principal),
                format_brl(inv.late_fee),
                format_brl(inv.interest),
                format_brl(inv.updated_total),
            )
            _row(table, cells)
        late_fees = sum((inv.late_fee for inv in data.invoices), start=Decimal("0.00"))
        interest = sum((inv.interest for inv in data.invoices), start=Decimal("0.00"))
        totals = (
            t.TOTAL_LABEL,
            "",
            format_brl(data.original_total),
            format_brl(late_fees),
            format_brl(interest),
            format_brl(data.updated_total),
        )
        _row(table, totals, _TOTAL_STYLE)
    pdf.ln(3)


def _summary_table(pdf: FPDF, data: t.TermData) -> None:
    labels = t.SUMMARY_LABELS
    rows = [
        (labels["original_total"], format_brl(data.original_total)),
        (labels["updated_total"], format_brl(data.updated_total)),
        (labels["discount_amount"], format_brl(data.discount_amount)),
        (labels["agreed_total"], format_brl(data.agreed_total)),
    ]
    if data.has_interest:
        rate = t.INTEREST_RATE_VALUE.format(rate=t.format_pct(data.monthly_interest_pct))
        rows.append((labels["monthly_interest"], rate))
    rows.append((labels["scheduled_total"], format_brl(data.scheduled_total)))
    pdf.set_font("Helvetica", "", _BODY_SIZE)
    with pdf.table(
        width=110,
        align="LEFT",
        col_widths=(70, 40),
        text_align=("LEFT", "RIGHT"),
        line_height=5,
        first_row_as_headings=False,
        borders_layout=TableBordersLayout.HORIZONTAL_LINES,
        padding=(0.8, 1.5),
    ) as table:
        for label, value in rows:
            emphasis = _TOTAL_STYLE if label == labels["agreed_total"] else None
            _row(table, (label, value), emphasis)
    pdf.ln(3)


def _schedule_table(pdf: FPDF, data: t.TermData) -> None:
    pdf.set_font("Helvetica", "", 8.5)
    with pdf.table(
        col_widths=(30, 20, 23, 101),
        text_align=("LEFT", "CENTER", "RIGHT", "LEFT"),
        line_height=3.6,
        headings_style=_HEADINGS_STYLE,
        borders_layout=TableBordersLayout.HORIZONTAL_LINES,
        cell_fill_color=_ZEBRA_FILL,
        cell_fill_mode="ROWS",
        repeat_headings=1,
        padding=(1.2, 1.5),
        v_align="MIDDLE",
        # A PIX code is one token whose spaces (in the merchant name) mean nothing to a reader:
        # filling every line keeps it compact.
        wrapmode=WrapMode.CHAR,
    ) as table:
        _row(table, t.SCHEDULE_HEADERS)
        for inst in data.installments:
            row = table.row()
            row.cell(latin1(t.installment_label(inst, data)))
            row.cell(format_date(inst.due_date))
            row.cell(format_brl(inst.amount))
            if inst.pix_code:
                row.cell(latin1(inst.pix_code), style=_PIX_STYLE)
            else:
                row.cell(latin1(t.PIX_PENDING), style=FontFace(emphasis="ITALICS", color=_MUTED))
    pdf.ln(3)


def _place_and_date(pdf: FPDF, data: t.TermData) -> None:
    pdf.ln(2)
    pdf.set_font("Helvetica", "", _BODY_SIZE)
    pdf.cell(0, _LINE, latin1(t.place_and_date(data)), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(3)


def _evidence(pdf: FPDF, data: t.TermData, evidence: t.AcceptanceEvidence) -> None:
    if pdf.get_y() > pdf.h - pdf.b_margin - 60:
        pdf.add_page()
    _heading(pdf, t.EVIDENCE_HEADING)
    labels = t.EVIDENCE_LABELS
    rows = (
        (labels["channel"], t.channel_name(evidence.channel)),
        (labels["conversation_id"], evidence.conversation_id),
        (labels["message_id"], evidence.message_id),
        (labels["contact"], f"{evidence.contact_name} ({evidence.contact_phone})"),
        (labels["accepted_at"], t.EVIDENCE_TIME.format(when=t.local_datetime_text(evidence.accepted_at))),
    )
    pdf.set_font("Helvetica", "", 8.5)
    with pdf.table(
        col_widths=(42, 132),
        text_align=("LEFT", "LEFT"),
        line_height=4.4,
        first_row_as_headings=False,
        borders_layout=TableBordersLayout.HORIZONTAL_LINES,
        cell_fill_color=_BOX_FILL,
        cell_fill_mode="ALL",
        padding=(1, 2),
    ) as table:
        for label, value in rows:
            row = table.row()
            row.cell(latin1(label), style=FontFace(emphasis="BOLD", color=_ACCENT))
            row.cell(latin1(value))
        row = table.row()
        row.cell(latin1(labels["terms_sha256"]), style=FontFace(emphasis="BOLD", color=_ACCENT))
        row.cell(evidence.terms_sha256, style=FontFace(family="Courier", size_pt=8))
    pdf.ln(2)
    pdf.set_font("Helvetica", "", 7.5)
    pdf.set_text_color(*_MUTED)
    pdf.multi_cell(0, 3.6, latin1(t.EVIDENCE_NOTE), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    current = t.terms_sha256(data)
    if current != evidence.terms_sha256:
        pdf.multi_cell(
            0, 3.6, latin1(t.EVIDENCE_MISMATCH.format(current=current)), new_x=XPos.LMARGIN, new_y=YPos.NEXT
        )
    pdf.set_text_color(*_INK)
