"""The termo de acordo: what the debtor accepts in chat, as data and as canonical text.

Pure: no I/O. ``render_terms_text`` is the text whose SHA-256 goes into the acceptance evidence, so
it depends only on the agreement's data (never on the evidence, nor on the PIX codes, which may be
issued after acceptance) and is byte-for-byte stable for the same data. Changing any wording here
changes the hash of every term rendered afterwards: bump ``TERMS_MODEL_VERSION`` when you do.

Every Portuguese text of the term (the chat text and the PDF's labels) lives in this module.
"""

from __future__ import annotations

import enum
import hashlib
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from server.domain.cnpj import format_cnpj
from server.domain.formatting import format_brl, format_date

TERMS_MODEL_VERSION = "1"
LOCAL_TZ = ZoneInfo("America/Sao_Paulo")
# Days after an installment's due date before the whole agreement falls due (default clause).
GRACE_DAYS = 5

# --- Portuguese texts ---------------------------------------------------------------------------

TITLE = "TERMO DE ACORDO E CONFISSÃO DE DÍVIDA"
SUBTITLE = "Acordo nº {agreement_id} - emitido em {issued_on} - modelo v{version}"
CREDITOR_LINE = "CREDORA: {name}, inscrita no CNPJ sob o nº {cnpj}, com sede em {address}, {city}."
DEBTOR_LINE = "DEVEDORA: {name}, inscrita no CNPJ sob o nº {cnpj}."

DEBT_TITLE = "1. RECONHECIMENTO DA DÍVIDA"
DEBT_TEXT = (
    "A DEVEDORA reconhece o débito e confessa dever à CREDORA a quantia de {updated_total}, "
    "correspondente às faturas abaixo, vencidas e não pagas, cujo valor original de {original_total} "
    "foi atualizado com multa e juros de mora até a data deste termo."
)
INVOICE_ITEM = (
    "Fatura {number}, vencimento {due}: valor original {principal}; multa {late_fee}; "
    "juros de mora {interest}; valor atualizado {updated}."
)

DISCOUNT_TITLE = "2. DESCONTO E VALOR DO ACORDO"
DISCOUNT_TEXT = (
    "A CREDORA concede desconto de {discount} sobre o valor atualizado, e as partes fixam o valor do "
    "acordo em {agreed_total}."
)
NO_DISCOUNT_TEXT = (
    "Não há desconto sobre o valor atualizado; as partes fixam o valor do acordo em {agreed_total}."
)

PAYMENT_TITLE = "3. FORMA DE PAGAMENTO"
PAYMENT_TEXT = (
    "O valor do acordo será pago por PIX, conforme o cronograma abaixo, cada pagamento com o seu próprio "
    "código PIX copia e cola, fornecido pela CREDORA."
)
INTEREST_TEXT = (
    "As parcelas incluem juros de {rate} ao mês sobre o saldo parcelado (Tabela Price), e a soma dos "
    "pagamentos é de {scheduled_total}."
)
NO_INTEREST_TEXT = "Não incidem juros sobre o parcelamento; a soma dos pagamentos é de {scheduled_total}."
SCHEDULE_ITEM = "{label}: {amount}, vencimento em {due}."
DOWN_PAYMENT_LABEL = "Entrada"
SINGLE_PAYMENT_LABEL = "Parcela única"
INSTALLMENT_LABEL = "Parcela {number} de {count}"

DEFAULT_TITLE = "4. INADIMPLEMENTO"
DEFAULT_TEXT = (
    "O não pagamento de qualquer valor previsto no cronograma até {grace} ({grace_words}) dias após o respectivo vencimento "
    "implica o vencimento antecipado do saldo e o restabelecimento do valor original da dívida, "
    "descontados os valores pagos, com multa e juros de mora, ficando sem efeito o desconto concedido. "
    "Nesse caso, a CREDORA poderá cobrar o saldo pelos meios previstos em lei."
)

SETTLEMENT_TITLE = "5. QUITAÇÃO"
SETTLEMENT_TEXT = (
    "Enquanto o acordo estiver sendo cumprido, a CREDORA não cobrará as faturas por ele abrangidas. "
    "Cumprido integralmente o acordo, a CREDORA dará plena quitação dessas faturas. Este acordo não "
    "implica novação."
)

ACCEPTANCE_TITLE = "6. ACEITE ELETRÔNICO"
ACCEPTANCE_TEXT = (
    "Este termo é aceito pela DEVEDORA, por meio de seu representante, no canal de atendimento "
    "eletrônico em que foi apresentado; o representante declara ter poderes para firmá-lo em nome da "
    "DEVEDORA. As partes reconhecem o aceite eletrônico, registrado com data, hora, identificação do "
    "contato e o código SHA-256 deste texto, como meio válido de comprovação de autoria e integridade "
    "(art. 10, § 2º, da Medida Provisória nº 2.200-2/2001)."
)

VENUE_TITLE = "7. FORO"
VENUE_TEXT = "Fica eleito o foro da comarca de {city} para dirimir questões oriundas deste termo."
PLACE_AND_DATE = "{city}, {issued_on}."

# PDF labels.
PARTIES_HEADING = "PARTES"
CREDITOR_LABEL = "Credora"
DEBTOR_LABEL = "Devedora"
NAME_LABEL = "Razão social"
CNPJ_LABEL = "CNPJ"
ADDRESS_LABEL = "Endereço"
INVOICE_HEADERS = ("Fatura", "Vencimento", "Valor original", "Multa", "Juros", "Valor atualizado")
TOTAL_LABEL = "Total"
SUMMARY_LABELS = {
    "original_total": "Valor original das faturas",
    "updated_total": "Valor atualizado (com multa e juros)",
    "discount_amount": "Desconto concedido",
    "agreed_total": "Valor do acordo",
    "scheduled_total": "Soma dos pagamentos",
    "monthly_interest": "Juros do parcelamento",
}
INTEREST_RATE_VALUE = "{rate} ao mês"
SCHEDULE_HEADERS = ("Parcela", "Vencimento", "Valor", "PIX copia e cola")
PIX_PENDING = "será enviado pela CREDORA"
EVIDENCE_HEADING = "Evidência de aceite"
EVIDENCE_LABELS = {
    "channel": "Canal",
    "conversation_id": "Conversa",
    "message_id": "Mensagem de aceite",
    "contact": "Contato",
    "accepted_at": "Data e hora do aceite",
    "terms_sha256": "SHA-256 do texto aceito",
}
EVIDENCE_TIME = "{when} (horário de Brasília)"
EVIDENCE_NOTE = (
    "O código SHA-256 identifica o texto deste termo apresentado e aceito na conversa; qualquer "
    "alteração do texto produziria outro código."
)
EVIDENCE_MISMATCH = (
    "Atenção: o texto acima, gerado novamente a partir dos dados do acordo, tem SHA-256 {current}, "
    "diferente do texto aceito; prevalece o texto aceito."
)
PAGE_FOOTER = "Acordo nº {agreement_id} - página {page} de {pages}"
CHANNEL_NAMES = {"whatsapp": "WhatsApp", "telegram": "Telegram", "sandbox": "Sandbox (demonstração)"}

_NUMBER_WORDS = {1: "um", 2: "dois", 3: "três", 5: "cinco", 10: "dez", 15: "quinze", 30: "trinta"}


# --- Data ---------------------------------------------------------------------------------------


def _require_money(owner: object, *names: str) -> None:
    for name in names:
        value = getattr(owner, name)
        if not isinstance(value, Decimal):
            raise TypeError(f"{type(owner).__name__}.{name} must be Decimal, not {type(value).__name__}")


@dataclass(frozen=True)
class CreditorIdentity:
    legal_name: str
    cnpj: str
    address: str
    city: str


@dataclass(frozen=True)
class DebtorIdentity:
    legal_name: str
    cnpj: str


@dataclass(frozen=True)
class CoveredInvoice:
    number: str
    due_date: date
    principal: Decimal
    late_fee: Decimal
    interest: Decimal
    updated_total: Decimal

    def __post_init__(self) -> None:
        _require_money(self, "principal", "late_fee", "interest", "updated_total")


@dataclass(frozen=True)
class ScheduledInstallment:
    number: int  # 0 = entrada (down payment)
    due_date: date
    amount: Decimal
    pix_code: str | None = None

    def __post_init__(self) -> None:
        _require_money(self, "amount")


@dataclass(frozen=True)
class AcceptanceEvidence:
    channel: str
    conversation_id: str
    message_id: str
    contact_name: str
    contact_phone: str
    accepted_at: datetime
    terms_sha256: str

    def __post_init__(self) -> None:
        if self.accepted_at.utcoffset() is None:
            raise ValueError("AcceptanceEvidence.accepted_at must be timezone-aware")


@dataclass(frozen=True)
class TermData:
    agreement_id: int | str
    creditor: CreditorIdentity
    debtor: DebtorIdentity
    invoices: tuple[CoveredInvoice, ...]
    original_total: Decimal
    updated_total: Decimal
    discount_amount: Decimal
    agreed_total: Decimal  # updated_total - discount_amount: the renegotiated debt, before interest
    monthly_interest_pct: Decimal
    installments: tuple[ScheduledInstallment, ...]
    issued_at: datetime
    evidence: AcceptanceEvidence | None = None

    def __post_init__(self) -> None:
        _require_money(
            self, "original_total", "updated_total", "discount_amount", "agreed_total", "monthly_interest_pct"
        )
        if not self.installments:
            raise ValueError("a term needs at least one payment")

    @property
    def scheduled_total(self) -> Decimal:
        """What the debtor pays in all: the agreed total plus the installments' interest."""
        return sum((i.amount for i in self.installments), Decimal("0.00"))

    @property
    def has_interest(self) -> bool:
        return self.monthly_interest_pct > 0 and any(i.number > 0 for i in self.installments)


# --- Text ---------------------------------------------------------------------------------------


class Listing(enum.Enum):
    """What a section lists after its first paragraphs (bullets in the text, a table in the PDF)."""

    NONE = "none"
    INVOICES = "invoices"
    SUMMARY = "summary"
    SCHEDULE = "schedule"


@dataclass(frozen=True)
class Section:
    title: str
    paragraphs: tuple[str, ...]
    listing: Listing = Listing.NONE
    items: tuple[str, ...] = ()
    closing: tuple[str, ...] = ()


def format_pct(value: Decimal) -> str:
    """``2`` → ``2%``, ``1.5`` → ``1,5%``, ``1.99`` → ``1,99%``."""
    text = f"{value.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):.2f}".rstrip("0").rstrip(".")
    return text.replace(".", ",") + "%"


def local_date(value: datetime) -> date:
    """The calendar date in Brasília of an aware datetime (a naive one is taken as already local)."""
    return value.astimezone(LOCAL_TZ).date() if value.utcoffset() is not None else value.date()


def local_datetime_text(value: datetime) -> str:
    local = value.astimezone(LOCAL_TZ) if value.utcoffset() is not None else value
    return local.strftime("%d/%m/%Y %H:%M")


def channel_name(channel: str) -> str:
    return CHANNEL_NAMES.get(str(channel), str(channel))


def installment_label(installment: ScheduledInstallment, data: TermData) -> str:
    if installment.number == 0:
        return DOWN_PAYMENT_LABEL
    count = sum(1 for i in data.installments if i.number > 0)
    if count == 1:
        return SINGLE_PAYMENT_LABEL
    return INSTALLMENT_LABEL.format(number=installment.number, count=count)


def title_lines(data: TermData) -> tuple[str, str]:
    subtitle = SUBTITLE.format(
        agreement_id=data.agreement_id,
        issued_on=format_date(local_date(data.issued_at)),
        version=TERMS_MODEL_VERSION,
    )
    return TITLE, subtitle


def party_lines(data: TermData) -> tuple[str, str]:
    creditor, debtor = data.creditor, data.debtor
    return (
        CREDITOR_LINE.format(
            name=creditor.legal_name,
            cnpj=format_cnpj(creditor.cnpj),
            address=creditor.address,
            city=creditor.city,
        ),
        DEBTOR_LINE.format(name=debtor.legal_name, cnpj=format_cnpj(debtor.cnpj)),
    )


def _debt_section(data: TermData) -> Section:
    text = DEBT_TEXT.format(
        updated_total=format_brl(data.updated_total), original_total=format_brl(data.original_total)
    )
    items = tuple(
        INVOICE_ITEM.format(
            number=inv.number,
            due=format_date(inv.due_date),
            principal=format_brl(inv.principal),
            late_fee=format_brl(inv.late_fee),
            interest=format_brl(inv.interest),
            updated=format_brl(inv.updated_total),
        )
        for inv in data.invoices
    )
    return Section(DEBT_TITLE, (text,), Listing.INVOICES, items)


def _discount_section(data: TermData) -> Section:
    agreed = format_brl(data.agreed_total)
    if data.discount_amount > 0:
        text = DISCOUNT_TEXT.format(discount=format_brl(data.discount_amount), agreed_total=agreed)
    else:
        text = NO_DISCOUNT_TEXT.format(agreed_total=agreed)
    return Section(DISCOUNT_TITLE, (text,), Listing.SUMMARY)


def interest_text(data: TermData) -> str:
    scheduled = format_brl(data.scheduled_total)
    if data.has_interest:
        return INTEREST_TEXT.format(rate=format_pct(data.monthly_interest_pct), scheduled_total=scheduled)
    return NO_INTEREST_TEXT.format(scheduled_total=scheduled)


def _payment_section(data: TermData) -> Section:
    items = tuple(
        SCHEDULE_ITEM.format(
            label=installment_label(inst, data),
            amount=format_brl(inst.amount),
            due=format_date(inst.due_date),
        )
        for inst in data.installments
    )
    return Section(PAYMENT_TITLE, (PAYMENT_TEXT,), Listing.SCHEDULE, items, (interest_text(data),))


def term_sections(data: TermData) -> tuple[Section, ...]:
    """The numbered clauses, in order; the PDF renders the same sections as the chat text."""
    grace_words = _NUMBER_WORDS.get(GRACE_DAYS, str(GRACE_DAYS))
    return (
        _debt_section(data),
        _discount_section(data),
        _payment_section(data),
        Section(DEFAULT_TITLE, (DEFAULT_TEXT.format(grace=GRACE_DAYS, grace_words=grace_words),)),
        Section(SETTLEMENT_TITLE, (SETTLEMENT_TEXT,)),
        Section(ACCEPTANCE_TITLE, (ACCEPTANCE_TEXT,)),
        Section(VENUE_TITLE, (VENUE_TEXT.format(city=data.creditor.city),)),
    )


def place_and_date(data: TermData) -> str:
    return PLACE_AND_DATE.format(city=data.creditor.city, issued_on=format_date(local_date(data.issued_at)))


def _section_text(section: Section) -> list[str]:
    lines = [section.title, *section.paragraphs]
    lines.extend(f"- {item}" for item in section.items)
    lines.extend(section.closing)
    return lines


def render_terms_text(data: TermData) -> str:
    """The canonical terms, as shown in chat and hashed for the acceptance evidence."""
    blocks: list[list[str]] = [list(title_lines(data)), list(party_lines(data))]
    blocks.extend(_section_text(section) for section in term_sections(data))
    blocks.append([place_and_date(data)])
    text = "\n\n".join("\n".join(block) for block in blocks) + "\n"
    # NFC, so a name stored with combining accents hashes like the same name typed precomposed.
    return unicodedata.normalize("NFC", text)


def terms_sha256(data: TermData) -> str:
    return hashlib.sha256(render_terms_text(data).encode("utf-8")).hexdigest()
