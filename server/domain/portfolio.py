"""Parsing and validation of the portfolio CSV (DESIGN §3). Pure: no I/O, no database.

Row problems never raise: they are collected as ``RowError`` (physical line, column, reason in
Portuguese) so that one pass reports every bad row.

Format rules decided here:

- Encoding: UTF-8 with or without BOM; otherwise Windows-1252 (what Windows ERPs write when they
  say "Latin-1": identical for every Latin-1 letter), and Latin-1 itself as the last resort.
- Delimiter: ``;`` when the header contains one, else ``,``.
- Header: names are compared ignoring case, accents, surrounding spaces and inner spaces/hyphens
  (``Razão Social`` = ``razao_social``); columns may come in any order. Unknown extra columns are
  ignored and listed in ``ParsedPortfolio.ignored_columns`` (ERP exports often carry more columns;
  a misspelt required column is still caught because it is then missing). Duplicated columns are
  an error.
- Amounts: optional ``R$``; a comma is always the decimal separator (``1.234,56``, ``1234,56``,
  ``0,5``) and dots before it must be thousands separators in groups of three. Without a comma a
  single dot followed by one or two digits is the decimal point (``1234.56``); otherwise dots are
  thousands separators in groups of three, so ``1.234`` is 1 234,00 and ``1.234.567`` is
  1 234 567,00 (an amount never has three decimal places, so a dot followed by exactly three
  digits cannot be a decimal point). The US form ``1,234.56`` is rejected, never guessed.
  Amounts must be > 0, have at most two decimal places and fit NUMERIC(14, 2).
- Dates: ``dd/mm/aaaa`` (one-digit day or month accepted) or ISO ``aaaa-mm-dd``, a real calendar
  date between 1900 and 2100; the issue date may not be after the due date.
- Optional columns: ``segmento``, ``contato_nome``, ``descricao`` (an empty ``segmento`` means
  "not informed", never "erase"). A contact needs ``contato_telefone`` or ``contato_email``.
- Phones: anything ``server.domain.phone.normalize_phone`` accepts, plus the ``0xx11`` prefix.
  E-mails: a basic ``local@domain.tld`` check; stored in lower case.
- One invoice (``fatura``) on several rows is one invoice with several contacts; rows disagreeing
  on cnpj, emissao, vencimento, valor or descricao are an error. A debtor (normalised CNPJ) on
  several rows must have the same razao_social/segmento (ignoring case and repeated spaces).
- Contacts of a debtor are merged by phone match key, else by e-mail (an e-mail-only row joins
  the contact with that e-mail; a row with another phone is another contact even with the same
  e-mail); the first non-empty name, phone and e-mail win.
- Blank lines (or lines whose fields are all empty) are skipped; a row must have as many fields
  as the header (extra trailing empty fields are tolerated).
"""

from __future__ import annotations

import csv
import io
import operator
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, NamedTuple, TypeVar

if TYPE_CHECKING:
    from _csv import Reader

from server.domain.cnpj import InvalidCNPJ, format_cnpj, normalize_cnpj
from server.domain.formatting import format_brl, format_date
from server.domain.phone import InvalidPhone, match_key, normalize_phone

TEXT_COLUMNS = ("razao_social", "segmento", "contato_nome", "descricao")
COLUMNS: tuple[str, ...] = (
    "cnpj",
    "razao_social",
    "segmento",
    "contato_nome",
    "contato_telefone",
    "contato_email",
    "fatura",
    "emissao",
    "vencimento",
    "valor",
    "descricao",
)
REQUIRED_VALUES = ("cnpj", "razao_social", "fatura", "emissao", "vencimento", "valor")
# Column sizes of the schema (server.db.models).
MAX_LENGTH = {
    "razao_social": 200,
    "segmento": 80,
    "contato_nome": 200,
    "contato_email": 254,
    "fatura": 60,
}
MAX_AMOUNT = Decimal("999999999999.99")
MIN_YEAR, MAX_YEAR = 1900, 2100

_BR_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_THOUSANDS = re.compile(r"^\d{1,3}(\.\d{3})+$")
_DIGITS = re.compile(r"^\d+$")
_PLAIN_DECIMAL = re.compile(r"^(\d+)\.(\d{1,2})$")
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
_MESSY_SPACE = re.compile(r"\s{2,}|[^\S ]")
_XX_PREFIX = re.compile(r"^(\(?\s*)0\s*xx\s*", re.IGNORECASE)
T = TypeVar("T")
_AMOUNT_HINT = "(use 1.234,56 ou 1234.56)"
_DATE_HINT = "(use dd/mm/aaaa ou aaaa-mm-dd)"


@dataclass(frozen=True, order=True)
class RowError:
    line: int
    column: str  # "" when the problem is the whole line
    reason: str


@dataclass
class ParsedContact:
    name: str
    phone_e164: str | None
    phone_key: str | None
    email: str | None
    line: int


@dataclass
class ParsedInvoice:
    number: str
    debtor_cnpj: str
    issue_date: date
    due_date: date
    principal: Decimal
    description: str | None
    line: int


@dataclass
class ParsedDebtor:
    cnpj: str
    legal_name: str
    segment: str | None
    line: int
    contacts: list[ParsedContact] = field(default_factory=list)
    invoices: list[ParsedInvoice] = field(default_factory=list)

    @property
    def cnpj_root(self) -> str:
        return self.cnpj[:8]


@dataclass
class ParsedPortfolio:
    debtors: dict[str, ParsedDebtor] = field(default_factory=dict)  # by normalised CNPJ
    errors: list[RowError] = field(default_factory=list)
    rows: int = 0  # data rows read (blank lines excluded)
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def invoice_count(self) -> int:
        return sum(len(d.invoices) for d in self.debtors.values())

    @property
    def contact_count(self) -> int:
        return sum(len(d.contacts) for d in self.debtors.values())


class _Row(NamedTuple):  # a NamedTuple: built once per CSV row, much cheaper than a dataclass
    line: int
    cnpj: str
    legal_name: str
    segment: str | None
    contact_name: str
    phone_e164: str | None
    phone_key: str | None
    email: str | None
    invoice: str
    issue_date: date
    due_date: date
    principal: Decimal
    description: str | None


class InvalidValue(ValueError):
    """A field value that cannot be used; the message is the reason shown to the user."""


# ---------------------------------------------------------------------------------------------
# Field parsers: return the value or raise InvalidValue. Cached where ERP files repeat values a lot.


def decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _collapse_spaces(text: str) -> str:
    return " ".join(text.split()) if _MESSY_SPACE.search(text) else text


def header_key(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[\s\-]+", "_", ascii_name.strip().lower())


@lru_cache(maxsize=65536)
def parse_cnpj(raw: str) -> str:
    try:
        return normalize_cnpj(raw)
    except InvalidCNPJ as exc:
        detail = str(exc)
        if detail == "CNPJ inválido":
            raise InvalidValue(f"CNPJ inválido '{raw}'") from None
        raise InvalidValue(f"CNPJ inválido '{raw}': {detail}") from None


@lru_cache(maxsize=65536)
def parse_date(raw: str) -> date:
    match = _BR_DATE.match(raw)
    if match:
        day, month, year = (int(g) for g in match.groups())
    else:
        match = _ISO_DATE.match(raw)
        if not match:
            raise InvalidValue(f"data inválida '{raw}' {_DATE_HINT}")
        year, month, day = (int(g) for g in match.groups())
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise InvalidValue(f"data inválida '{raw}' {_DATE_HINT}")
    try:
        return date(year, month, day)
    except ValueError:
        raise InvalidValue(f"data inválida '{raw}' {_DATE_HINT}") from None


def parse_amount(raw: str) -> Decimal:
    text = raw.replace("\xa0", " ").strip()
    if text[:2].upper() == "R$":
        text = text[2:].strip()
    negative = text.startswith("-")
    if negative:
        text = text[1:].strip()
    integer, decimals = _split_amount(text, raw)
    if len(decimals) > 2:
        raise InvalidValue(f"valor '{raw}' com mais de 2 casas decimais")
    value = Decimal(f"{'-' if negative else ''}{integer}.{decimals:0<2}")
    if value <= 0:
        raise InvalidValue(f"valor deve ser maior que zero (recebido '{raw}')")
    if value > MAX_AMOUNT:
        raise InvalidValue(f"valor '{raw}' grande demais")
    return value


def _split_amount(text: str, raw: str) -> tuple[str, str]:
    """Integer digits and decimal digits of an amount written by a Brazilian (see module doc)."""
    invalid = InvalidValue(f"valor inválido '{raw}' {_AMOUNT_HINT}")
    if "," in text:
        integer, _, decimals = text.partition(",")
        if not _DIGITS.match(decimals):
            raise invalid
        if _DIGITS.match(integer):
            return integer, decimals
        if _THOUSANDS.match(integer):
            return integer.replace(".", ""), decimals
        raise invalid
    if _DIGITS.match(text):
        return text, ""
    plain = _PLAIN_DECIMAL.match(text)
    if plain:
        return plain.group(1), plain.group(2)
    if _THOUSANDS.match(text):
        return text.replace(".", ""), ""
    if re.match(r"^\d+\.\d{3,}$", text):
        raise InvalidValue(f"valor '{raw}' com mais de 2 casas decimais")
    raise invalid


@lru_cache(maxsize=65536)
def parse_phone(raw: str) -> tuple[str, str]:
    """(E.164, match key) of a Brazilian phone."""
    text = _XX_PREFIX.sub(r"\g<1>0", raw)
    try:
        e164 = normalize_phone(text)
    except InvalidPhone as exc:
        raise InvalidValue(f"telefone inválido '{raw}': {exc}") from None
    return e164, match_key(e164)


def parse_email(raw: str) -> str:
    email = raw.strip()
    if not _EMAIL.match(email):
        raise InvalidValue(f"e-mail inválido '{raw}'")
    return email.lower()


# ---------------------------------------------------------------------------------------------
# Rows


def _parse_row(line: int, values: dict[str, str]) -> tuple[_Row | None, list[RowError]]:
    errors: list[RowError] = []

    def check(column: str, parser: Callable[[str], T]) -> T | None:
        if not values[column]:
            return None
        try:
            return parser(values[column])
        except InvalidValue as exc:
            errors.append(RowError(line, column, str(exc)))
            return None

    for column in REQUIRED_VALUES:
        if not values[column]:
            errors.append(RowError(line, column, "campo obrigatório vazio"))
    for column, limit in MAX_LENGTH.items():
        if len(values[column]) > limit:
            errors.append(RowError(line, column, f"texto longo demais (máximo {limit} caracteres)"))

    cnpj = check("cnpj", parse_cnpj)
    issue = check("emissao", parse_date)
    due = check("vencimento", parse_date)
    principal = check("valor", parse_amount)
    phone = check("contato_telefone", parse_phone)
    email = check("contato_email", parse_email)
    if not values["contato_telefone"] and not values["contato_email"]:
        errors.append(RowError(line, "contato_telefone", "contato sem telefone nem e-mail"))
    if issue and due and issue > due:
        errors.append(
            RowError(
                line,
                "emissao",
                f"emissão ({format_date(issue)}) posterior ao vencimento ({format_date(due)})",
            )
        )
    if errors:
        return None, errors
    assert cnpj is not None and issue is not None and due is not None and principal is not None
    return (
        _Row(
            line=line,
            cnpj=cnpj,
            legal_name=values["razao_social"],
            segment=values["segmento"] or None,
            contact_name=values["contato_nome"],
            phone_e164=phone[0] if phone else None,
            phone_key=phone[1] if phone else None,
            email=email,
            invoice=values["fatura"],
            issue_date=issue,
            due_date=due,
            principal=principal,
            description=values["descricao"] or None,
        ),
        [],
    )


# ---------------------------------------------------------------------------------------------
# Aggregation of valid rows into debtors, contacts and invoices


class _Builder:
    def __init__(self, result: ParsedPortfolio) -> None:
        self.result = result
        self.invoices: dict[str, ParsedInvoice] = {}
        self.by_phone: dict[tuple[str, str], ParsedContact] = {}
        self.by_email: dict[tuple[str, str], ParsedContact] = {}

    def add(self, row: _Row) -> None:
        debtor = self._debtor(row)
        if debtor is None:
            return
        if not self._invoice(row, debtor):
            return
        self._contact(row, debtor)

    def _debtor(self, row: _Row) -> ParsedDebtor | None:
        debtor = self.result.debtors.get(row.cnpj)
        if debtor is None:
            debtor = ParsedDebtor(row.cnpj, row.legal_name, row.segment, row.line)
            self.result.debtors[row.cnpj] = debtor
            return debtor
        ok = True
        if debtor.legal_name.casefold() != row.legal_name.casefold():
            self._error(
                row.line,
                "razao_social",
                f"CNPJ {format_cnpj(row.cnpj)} aparece com outra razão social na linha {debtor.line}: "
                f"'{debtor.legal_name}' ≠ '{row.legal_name}'",
            )
            ok = False
        if debtor.segment and row.segment and debtor.segment.casefold() != row.segment.casefold():
            self._error(
                row.line,
                "segmento",
                f"CNPJ {format_cnpj(row.cnpj)} aparece com outro segmento na linha {debtor.line}: "
                f"'{debtor.segment}' ≠ '{row.segment}'",
            )
            ok = False
        if ok and debtor.segment is None:
            debtor.segment = row.segment
        return debtor if ok else None

    def _invoice(self, row: _Row, debtor: ParsedDebtor) -> bool:
        known = self.invoices.get(row.invoice)
        if known is None:
            invoice = ParsedInvoice(
                row.invoice, row.cnpj, row.issue_date, row.due_date, row.principal, row.description, row.line
            )
            self.invoices[row.invoice] = invoice
            debtor.invoices.append(invoice)
            return True
        pairs: list[tuple[str, object, object]] = [
            ("cnpj", known.debtor_cnpj, row.cnpj),
            ("emissao", known.issue_date, row.issue_date),
            ("vencimento", known.due_date, row.due_date),
            ("valor", known.principal, row.principal),
            ("descricao", known.description or "", row.description or ""),
        ]
        ok = True
        for column, before, now in pairs:
            if before != now:
                self._error(
                    row.line,
                    column,
                    f"fatura {row.invoice} aparece com dados diferentes na linha {known.line}: "
                    f"{column} '{_show(column, before)}' ≠ '{_show(column, now)}'",
                )
                ok = False
        return ok

    def _contact(self, row: _Row, debtor: ParsedDebtor) -> None:
        contact = None
        if row.phone_key:
            contact = self.by_phone.get((debtor.cnpj, row.phone_key))
        if contact is None and row.email:
            candidate = self.by_email.get((debtor.cnpj, row.email))
            if candidate is not None and (candidate.phone_key is None or row.phone_key is None):
                contact = candidate
        if contact is None:
            contact = ParsedContact(row.contact_name, row.phone_e164, row.phone_key, row.email, row.line)
            debtor.contacts.append(contact)
        else:
            contact.name = contact.name or row.contact_name
            if contact.phone_key is None and row.phone_key:
                contact.phone_e164, contact.phone_key = row.phone_e164, row.phone_key
            contact.email = contact.email or row.email
        if contact.phone_key:
            self.by_phone.setdefault((debtor.cnpj, contact.phone_key), contact)
        if contact.email:
            self.by_email.setdefault((debtor.cnpj, contact.email), contact)

    def _error(self, line: int, column: str, reason: str) -> None:
        self.result.errors.append(RowError(line, column, reason))


def _show(column: str, value: object) -> str:
    if column == "cnpj":
        return format_cnpj(str(value))
    if isinstance(value, date):
        return format_date(value)
    if isinstance(value, Decimal):
        return plain_brl(value)
    return str(value)


def plain_brl(value: Decimal) -> str:
    """``1.234,56``: an amount in error messages."""
    return format_brl(value).removeprefix("R$ ")


# ---------------------------------------------------------------------------------------------
# File


def _delimiter(text: str) -> str:
    first = text.split("\n", 1)[0]
    return ";" if ";" in first else ","


def _column_index(header: list[str], result: ParsedPortfolio) -> dict[str, int] | None:
    index: dict[str, int] = {}
    for position, name in enumerate(header):
        key = header_key(name)
        if key in COLUMNS:
            if key in index:
                result.errors.append(RowError(1, key, f"coluna '{key}' repetida no cabeçalho"))
            index[key] = position
        elif key:
            result.ignored_columns.append(name.strip())
    missing = [c for c in COLUMNS if c not in index]
    for column in missing:
        result.errors.append(RowError(1, column, f"coluna obrigatória '{column}' ausente no cabeçalho"))
    return None if result.errors else index


def parse_portfolio(data: bytes) -> ParsedPortfolio:
    result = ParsedPortfolio()
    text = decode(data)
    if not text.strip():
        result.errors.append(RowError(1, "", "arquivo sem linhas de dados"))
        return result
    # strict: an unclosed quote is an error instead of silently swallowing the following rows.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text), strict=True)
    try:
        _read(_records(reader), result)
    except _Malformed as exc:
        result.errors.append(
            RowError(
                exc.line,
                "",
                "CSV malformado a partir desta linha (aspas não fechadas?); leitura interrompida",
            )
        )
    result.errors.sort(key=lambda e: (e.line, COLUMNS.index(e.column) if e.column in COLUMNS else -1))
    return result


class _Malformed(Exception):
    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


def _records(reader: Reader) -> Iterator[tuple[int, list[str]]]:
    """(physical line where the record starts, fields): a quoted field may span lines."""
    while True:
        line = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error:
            raise _Malformed(line) from None
        yield line, fields


def _read(records: Iterator[tuple[int, list[str]]], result: ParsedPortfolio) -> None:
    _, header = next(records)
    index = _column_index(header, result)
    if index is None:
        return
    builder = _Builder(result)
    width = len(header)
    pick = operator.itemgetter(*(index[c] for c in COLUMNS))
    for line, fields in records:
        if not any(f.strip() for f in fields):
            continue
        result.rows += 1
        if len(fields) < width or any(f.strip() for f in fields[width:]):
            result.errors.append(
                RowError(
                    line,
                    "",
                    f"linha com {len(fields)} campos, o cabeçalho tem {width} "
                    "(confira o separador e as aspas)",
                )
            )
            continue
        values = dict(zip(COLUMNS, map(str.strip, pick(fields)), strict=True))
        for column in TEXT_COLUMNS:
            values[column] = _collapse_spaces(values[column])
        row, errors = _parse_row(line, values)
        if row is None:
            result.errors.extend(errors)
        else:
            builder.add(row)
    if result.rows == 0:
        result.errors.append(RowError(1, "", "arquivo sem linhas de dados"))
