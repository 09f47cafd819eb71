"""Import of the portfolio CSV into the database (DESIGN §3), all or nothing.

``import_portfolio`` validates everything (file and conflicts with what is already stored) before
writing anything, so a report with errors means nothing was written. It writes in the caller's
transaction and never commits: the caller commits (or rolls back) — ``run_import_cli`` does.

Matching with stored data: debtors by CNPJ (within the creditor), invoices by number (unique per
creditor), contacts of a debtor by phone match key, else by e-mail (same rule as within the file).
An existing debtor gets its razao_social/segmento updated when the file says otherwise (an empty
segmento keeps the stored one); an existing contact only gets a missing phone, e-mail or name
filled in. An invoice already stored with another debtor, issue date, due date or principal is a
conflict; a different description is not (stored text is kept).

Performance: stored debtors, contacts and invoices of the creditor are read with one SELECT each
and new rows are written with Core executemany in batches, never one statement per row.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Table, bindparam, insert, inspect, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from server.db.models import Contact, Creditor, Debtor, Invoice, InvoiceStatus, utcnow
from server.db.session import make_engine, make_session_factory
from server.domain.cnpj import format_cnpj
from server.domain.formatting import format_date
from server.domain.portfolio import (
    ParsedContact,
    ParsedDebtor,
    ParsedInvoice,
    ParsedPortfolio,
    RowError,
    parse_portfolio,
    plain_brl,
)
from server.services.creditor import get_or_create_creditor
from server.settings import Settings

BATCH_SIZE = 5000
LARGE_FILE_BYTES = 1_000_000
Progress = Callable[[int, int], None]

DEBTORS: Table = Debtor.__table__  # type: ignore[assignment]
CONTACTS: Table = Contact.__table__  # type: ignore[assignment]
INVOICES: Table = Invoice.__table__  # type: ignore[assignment]


@dataclass
class ImportReport:
    rows: int = 0
    errors: list[RowError] = field(default_factory=list)
    debtors_created: int = 0
    debtors_updated: int = 0
    contacts_created: int = 0
    contacts_updated: int = 0
    invoices_created: int = 0
    invoices_unchanged: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def changed(self) -> bool:
        return bool(
            self.debtors_created
            + self.debtors_updated
            + self.contacts_created
            + self.contacts_updated
            + self.invoices_created
        )


# ---------------------------------------------------------------------------------------------
# What is already stored


@dataclass
class _StoredContact:
    id: int
    name: str
    phone_key: str | None
    email: str | None


@dataclass
class _StoredDebtor:
    id: int
    cnpj: str
    legal_name: str
    segment: str | None
    contacts: list[_StoredContact] = field(default_factory=list)


@dataclass(frozen=True)
class _StoredInvoice:
    debtor_id: int
    issue_date: date
    due_date: date
    principal: Decimal


@dataclass
class _Stored:
    debtors: dict[str, _StoredDebtor]  # by CNPJ
    cnpj_by_id: dict[int, str]
    invoices: dict[str, _StoredInvoice]  # by number


def _load_stored(session: Session, creditor_id: int) -> _Stored:
    debtors: dict[str, _StoredDebtor] = {}
    by_id: dict[int, _StoredDebtor] = {}
    for row in session.execute(
        select(DEBTORS.c.id, DEBTORS.c.cnpj, DEBTORS.c.legal_name, DEBTORS.c.segment).where(
            DEBTORS.c.creditor_id == creditor_id
        )
    ):
        debtor = _StoredDebtor(row.id, row.cnpj, row.legal_name, row.segment)
        debtors[row.cnpj] = by_id[row.id] = debtor
    contacts = (
        select(CONTACTS.c.id, CONTACTS.c.debtor_id, CONTACTS.c.name, CONTACTS.c.phone_key, CONTACTS.c.email)
        .join(DEBTORS, DEBTORS.c.id == CONTACTS.c.debtor_id)
        .where(DEBTORS.c.creditor_id == creditor_id)
        .order_by(CONTACTS.c.id)
    )
    for c in session.execute(contacts):
        email = c.email.lower() if c.email else None
        by_id[c.debtor_id].contacts.append(_StoredContact(c.id, c.name, c.phone_key, email))
    invoices = {
        row.number: _StoredInvoice(row.debtor_id, row.issue_date, row.due_date, row.principal)
        for row in session.execute(
            select(
                INVOICES.c.number,
                INVOICES.c.debtor_id,
                INVOICES.c.issue_date,
                INVOICES.c.due_date,
                INVOICES.c.principal,
            ).where(INVOICES.c.creditor_id == creditor_id)
        )
    }
    return _Stored(debtors, {d.id: cnpj for cnpj, d in debtors.items()}, invoices)


# ---------------------------------------------------------------------------------------------
# Plan: what to write, decided before writing anything


@dataclass
class _Plan:
    new_debtors: list[ParsedDebtor] = field(default_factory=list)
    debtor_updates: list[dict[str, Any]] = field(default_factory=list)
    # Contacts and invoices refer to their debtor by CNPJ until new debtors have ids.
    new_contacts: list[tuple[str, ParsedContact]] = field(default_factory=list)
    contact_updates: list[dict[str, Any]] = field(default_factory=list)
    new_invoices: list[ParsedInvoice] = field(default_factory=list)
    unchanged_invoices: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def total_writes(self) -> int:
        return (
            len(self.new_debtors)
            + len(self.debtor_updates)
            + len(self.new_contacts)
            + len(self.contact_updates)
            + len(self.new_invoices)
        )


def _plan(parsed: ParsedPortfolio, stored: _Stored) -> _Plan:
    plan = _Plan()
    for debtor in parsed.debtors.values():
        known = stored.debtors.get(debtor.cnpj)
        if known is None:
            plan.new_debtors.append(debtor)
            plan.new_contacts.extend((debtor.cnpj, c) for c in debtor.contacts)
        else:
            _plan_debtor_update(plan, debtor, known)
            _plan_contacts(plan, debtor, known)
        for invoice in debtor.invoices:
            _plan_invoice(plan, invoice, stored)
    plan.errors.sort()
    return plan


def _plan_debtor_update(plan: _Plan, debtor: ParsedDebtor, known: _StoredDebtor) -> None:
    segment = debtor.segment or known.segment
    if debtor.legal_name != known.legal_name or segment != known.segment:
        plan.debtor_updates.append(
            {"b_id": known.id, "b_legal_name": debtor.legal_name, "b_segment": segment}
        )


def _plan_contacts(plan: _Plan, debtor: ParsedDebtor, known: _StoredDebtor) -> None:
    for contact in debtor.contacts:
        match = _match_contact(contact, known.contacts)
        if match is None:
            plan.new_contacts.append((debtor.cnpj, contact))
            continue
        update_values = _contact_fill_in(contact, match)
        if update_values:
            plan.contact_updates.append(update_values)


def _match_contact(contact: ParsedContact, stored: Sequence[_StoredContact]) -> _StoredContact | None:
    if contact.phone_key:
        for candidate in stored:
            if candidate.phone_key == contact.phone_key:
                return candidate
    if contact.email:
        for candidate in stored:
            if candidate.email == contact.email and (
                candidate.phone_key is None or contact.phone_key is None
            ):
                return candidate
    return None


def _contact_fill_in(contact: ParsedContact, match: _StoredContact) -> dict[str, Any] | None:
    """Column values for the missing fields of a stored contact (None when nothing is missing)."""
    values: dict[str, Any] = {}
    if match.phone_key is None and contact.phone_key is not None:
        values["phone_e164"], values["phone_key"] = contact.phone_e164, contact.phone_key
        match.phone_key = contact.phone_key
    if match.email is None and contact.email is not None:
        values["email"] = match.email = contact.email
    if not match.name and contact.name:
        values["name"] = match.name = contact.name
    if not values:
        return None
    values["id"] = match.id
    return values


def _plan_invoice(plan: _Plan, invoice: ParsedInvoice, stored: _Stored) -> None:
    known = stored.invoices.get(invoice.number)
    if known is None:
        plan.new_invoices.append(invoice)
        return
    differences = _invoice_differences(invoice, known, stored.cnpj_by_id.get(known.debtor_id, "?"))
    if not differences:
        plan.unchanged_invoices += 1
    for column, before, now in differences:
        plan.errors.append(
            RowError(
                invoice.line, column, f"fatura já importada com dados diferentes: {column} {before} ≠ {now}"
            )
        )


def _invoice_differences(
    invoice: ParsedInvoice, known: _StoredInvoice, known_cnpj: str
) -> list[tuple[str, str, str]]:
    """(column, stored value, file value) of every field that differs."""
    differences = []
    if known_cnpj != invoice.debtor_cnpj:
        differences.append(("cnpj", _show_cnpj(known_cnpj), format_cnpj(invoice.debtor_cnpj)))
    if known.issue_date != invoice.issue_date:
        differences.append(("emissao", format_date(known.issue_date), format_date(invoice.issue_date)))
    if known.due_date != invoice.due_date:
        differences.append(("vencimento", format_date(known.due_date), format_date(invoice.due_date)))
    if Decimal(known.principal) != invoice.principal:
        differences.append(("valor", plain_brl(Decimal(known.principal)), plain_brl(invoice.principal)))
    return differences


def _show_cnpj(value: str) -> str:
    try:
        return format_cnpj(value)
    except ValueError:
        return value


# ---------------------------------------------------------------------------------------------
# Writing


class _Writer:
    def __init__(self, session: Session, creditor_id: int, plan: _Plan, progress: Progress | None) -> None:
        self.session = session
        self.creditor_id = creditor_id
        self.plan = plan
        self.progress = progress
        self.done = 0
        self.total = plan.total_writes
        self.now: datetime = utcnow()

    def run(self, stored: _Stored) -> None:
        debtor_ids = {cnpj: d.id for cnpj, d in stored.debtors.items()}
        self._insert(DEBTORS, [self._debtor_row(d) for d in self.plan.new_debtors])
        if self.plan.new_debtors:
            ids = select(DEBTORS.c.cnpj, DEBTORS.c.id).where(DEBTORS.c.creditor_id == self.creditor_id)
            debtor_ids = {cnpj: debtor_id for cnpj, debtor_id in self.session.execute(ids)}
        self._update_debtors()
        self._insert(CONTACTS, [self._contact_row(debtor_ids[cnpj], c) for cnpj, c in self.plan.new_contacts])
        self._update_contacts()
        self._insert(
            INVOICES, [self._invoice_row(debtor_ids[i.debtor_cnpj], i) for i in self.plan.new_invoices]
        )

    def _insert(self, table: Table, rows: list[dict[str, Any]]) -> None:
        for batch in _batches(rows):
            self.session.execute(insert(table), batch)
            self._advance(len(batch))

    def _update_debtors(self) -> None:
        statement = (
            update(DEBTORS)
            .where(DEBTORS.c.id == bindparam("b_id"))
            .values(legal_name=bindparam("b_legal_name"), segment=bindparam("b_segment"), updated_at=self.now)
        )
        for batch in _batches(self.plan.debtor_updates):
            self.session.execute(statement, batch)
            self._advance(len(batch))

    def _update_contacts(self) -> None:
        # One statement per set of filled-in columns: never rewrite a stored value.
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for values in self.plan.contact_updates:
            columns = tuple(sorted(k for k in values if k != "id"))
            by_columns.setdefault(columns, []).append({f"b_{k}": v for k, v in values.items()})
        for columns, updates in by_columns.items():
            statement = (
                update(CONTACTS)
                .where(CONTACTS.c.id == bindparam("b_id"))
                .values({c: bindparam(f"b_{c}") for c in columns})
            )
            for batch in _batches(updates):
                self.session.execute(statement, batch)
                self._advance(len(batch))

    def _advance(self, count: int) -> None:
        self.done += count
        if self.progress is not None:
            self.progress(self.done, self.total)

    def _debtor_row(self, debtor: ParsedDebtor) -> dict[str, Any]:
        return {
            "creditor_id": self.creditor_id,
            "cnpj": debtor.cnpj,
            "cnpj_root": debtor.cnpj_root,
            "legal_name": debtor.legal_name,
            "segment": debtor.segment,
            "legal_hold": False,
            "in_dispute": False,
            "created_at": self.now,
            "updated_at": self.now,
        }

    def _contact_row(self, debtor_id: int, contact: ParsedContact) -> dict[str, Any]:
        return {
            "debtor_id": debtor_id,
            "name": contact.name,
            "phone_e164": contact.phone_e164,
            "phone_key": contact.phone_key,
            "email": contact.email,
            "telegram_user_id": None,
            "opted_out_at": None,
            "created_at": self.now,
        }

    def _invoice_row(self, debtor_id: int, invoice: ParsedInvoice) -> dict[str, Any]:
        return {
            "creditor_id": self.creditor_id,
            "debtor_id": debtor_id,
            "number": invoice.number,
            "issue_date": invoice.issue_date,
            "due_date": invoice.due_date,
            "principal": invoice.principal,
            "description": invoice.description,
            "status": InvoiceStatus.OPEN,
            "created_at": self.now,
        }


def _batches(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), BATCH_SIZE):
        yield rows[start : start + BATCH_SIZE]


# ---------------------------------------------------------------------------------------------
# Entry points


def import_portfolio(
    session: Session,
    creditor: Creditor,
    data: bytes,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Validate ``data`` and, when valid and not a dry run, write it in ``session`` (not committed)."""
    parsed = parse_portfolio(data)
    report = ImportReport(rows=parsed.rows, ignored_columns=parsed.ignored_columns, dry_run=dry_run)
    stored = _load_stored(session, creditor.id)
    # Valid rows are checked against the database even when others are bad: one report says all.
    plan = _plan(parsed, stored)
    if parsed.errors or plan.errors:
        report.errors = sorted(parsed.errors + plan.errors, key=lambda e: e.line)
        return report
    report.debtors_created = len(plan.new_debtors)
    report.debtors_updated = len(plan.debtor_updates)
    report.contacts_created = len(plan.new_contacts)
    report.contacts_updated = len(plan.contact_updates)
    report.invoices_created = len(plan.new_invoices)
    report.invoices_unchanged = plan.unchanged_invoices
    if not dry_run:
        _Writer(session, creditor.id, plan, progress).run(stored)
    return report


class ProgressBar:
    """A one-line progress bar on a terminal; silent for small imports."""

    WIDTH = 30
    MIN_TOTAL = 2000

    def __init__(self, stream: TextIO, label: str = "Gravando") -> None:
        self.stream = stream
        self.label = label
        self.shown = -1

    def __call__(self, done: int, total: int) -> None:
        if total < self.MIN_TOTAL:
            return
        percent = done * 100 // total
        if percent == self.shown:
            return
        self.shown = percent
        filled = self.WIDTH * done // total
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        self.stream.write(f"\r{self.label} [{bar}] {percent:3d}% ({done}/{total})")
        self.stream.flush()

    def close(self) -> None:
        if self.shown >= 0:
            self.stream.write("\n")
            self.stream.flush()


def format_error(error: RowError) -> str:
    where = f"linha {error.line}, coluna {error.column}" if error.column else f"linha {error.line}"
    return f"{where}: {error.reason}"


def format_summary(report: ImportReport, path: Path) -> list[str]:
    head = (
        f"Simulação (--dry-run) de {path.name}: arquivo válido, nada foi gravado."
        if report.dry_run
        else f"Carteira importada de {path.name}."
    )
    r, verb = report, "seriam " if report.dry_run else ""
    lines = [
        head,
        f"  linhas lidas: {r.rows}",
        f"  devedores: {r.debtors_created} {verb}criado(s), {r.debtors_updated} {verb}atualizado(s)",
        f"  contatos: {r.contacts_created} {verb}criado(s), {r.contacts_updated} {verb}completado(s)",
        f"  faturas: {r.invoices_created} {verb}criada(s), {r.invoices_unchanged} já importada(s)",
    ]
    if not report.dry_run and not report.changed:
        lines.append("Nada mudou: a carteira já estava importada.")
    return lines


def _schema_ready(session: Session) -> bool:
    names = set(inspect(session.connection()).get_table_names())
    return {"creditors", "debtors", "contacts", "invoices"} <= names


def run_import_cli(path: Path, *, dry_run: bool, settings: Settings) -> int:
    """``negocia import-portfolio``: 0 imported (or valid dry run), 1 invalid file, 2 cannot run."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        print(f"arquivo não encontrado: {path}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"não foi possível ler {path}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    engine = make_engine(settings.database_url)
    try:
        return _run(
            data, path, dry_run=dry_run, settings=settings, session_factory=make_session_factory(engine)
        )
    except SQLAlchemyError as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"erro no banco de dados: {first_line}", file=sys.stderr)
        print("Nenhuma linha importada.", file=sys.stderr)
        return 2
    finally:
        engine.dispose()


def _run(
    data: bytes, path: Path, *, dry_run: bool, settings: Settings, session_factory: sessionmaker[Session]
) -> int:
    with session_factory() as session:
        if not _schema_ready(session):
            print("banco não inicializado: rode `negocia db upgrade`", file=sys.stderr)
            return 2
        report = _import_with_progress(session, settings, data, dry_run=dry_run)
        if report.errors or dry_run:
            session.rollback()
        else:
            session.commit()
    return _print_report(report, path)


def _import_with_progress(
    session: Session, settings: Settings, data: bytes, *, dry_run: bool
) -> ImportReport:
    bar = ProgressBar(sys.stderr) if sys.stderr.isatty() else None
    if bar is not None and len(data) > LARGE_FILE_BYTES:
        print("Validando o arquivo…", file=sys.stderr, flush=True)
    try:
        creditor = get_or_create_creditor(session, settings)
        return import_portfolio(session, creditor, data, dry_run=dry_run, progress=bar)
    finally:
        if bar is not None:
            bar.close()


def _print_report(report: ImportReport, path: Path) -> int:
    if report.ignored_columns:
        print(f"aviso: colunas ignoradas: {', '.join(report.ignored_columns)}", file=sys.stderr)
    if report.errors:
        for error in sorted(report.errors, key=lambda e: e.line):
            print(format_error(error), file=sys.stderr)
        print(f"Nenhuma linha importada: {len(report.errors)} erro(s).", file=sys.stderr)
        return 1
    print("\n".join(format_summary(report, path)))
    return 0
