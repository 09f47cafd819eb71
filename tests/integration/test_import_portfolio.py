"""Portfolio import into the database (SQLite and PostgreSQL) and ``negocia import-portfolio``."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from server.db.models import Contact, Creditor, Debtor, Invoice, InvoiceStatus
from server.services.creditor import get_or_create_creditor
from server.services.portfolio_import import ImportReport, import_portfolio
from server.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
HEADER = "cnpj;razao_social;segmento;contato_nome;contato_telefone;contato_email;fatura;emissao;vencimento;valor;descricao"
ROWS = [
    "11.222.333/0001-81;Mercado Bom Preço Ltda;Varejo;Ana Souza;(11) 98765-4321;ana@bompreco.com.br;NF-1;01/02/2026;03/03/2026;1.234,56;Pedido 77",
    "11222333000181;Mercado Bom Preço Ltda;Varejo;Bruno Lima;+55 21 99876-5432;;NF-1;2026-02-01;2026-03-03;1234.56;Pedido 77",
    "11222333000181;Mercado Bom Preço Ltda;Varejo;Ana Souza;11987654321;;NF-2;05/02/2026;07/03/2026;99,90;",
    "12.ABC.345/01DE-35;Padaria Sol Nascente;;Carla;;carla@sol.com.br;P-10;10/01/2026;10/02/2026;5000;Pães",
]
TABLES = (Debtor, Contact, Invoice)


def portfolio(*rows: str) -> bytes:
    return ("\n".join([HEADER, *rows]) + "\n").encode()


GOOD = portfolio(*ROWS)


def counts(session_factory: sessionmaker[Session]) -> tuple[int, ...]:
    with session_factory() as session:
        return tuple(session.scalar(select(func.count()).select_from(m)) or 0 for m in TABLES)


def snapshot(session_factory: sessionmaker[Session]) -> str:
    """Checksum of every column of every imported row (timestamps included)."""
    digest = hashlib.sha256()
    with session_factory() as session:
        for model in TABLES:
            table = model.__table__
            for row in session.execute(select(table).order_by(table.c.id)):
                digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()


def run_import(
    session_factory: sessionmaker[Session], data: bytes, *, dry_run: bool = False, commit: bool = True
) -> ImportReport:
    with session_factory() as session:
        creditor = get_or_create_creditor(session, Settings())
        report = import_portfolio(session, creditor, data, dry_run=dry_run)
        if commit:
            session.commit()
    return report


# --- service ---------------------------------------------------------------------------------


def test_import_creates_debtors_contacts_and_invoices(session_factory: sessionmaker[Session]) -> None:
    report = run_import(session_factory, GOOD)
    assert report.ok, report.errors
    assert (report.rows, report.debtors_created, report.contacts_created, report.invoices_created) == (
        4,
        2,
        3,
        3,
    )
    assert (report.debtors_updated, report.invoices_unchanged) == (0, 0)
    assert counts(session_factory) == (2, 3, 3)

    with session_factory() as session:
        creditor = session.scalars(select(Creditor)).one()
        market = session.scalars(select(Debtor).where(Debtor.cnpj == "11222333000181")).one()
        assert (market.creditor_id, market.cnpj_root, market.legal_name) == (
            creditor.id,
            "11222333",
            "Mercado Bom Preço Ltda",
        )
        assert market.segment == "Varejo" and not market.legal_hold and not market.in_dispute
        contacts = {c.name: c for c in market.contacts}
        assert contacts["Ana Souza"].phone_e164 == "+5511987654321"
        assert contacts["Ana Souza"].phone_key == "1187654321"
        assert contacts["Ana Souza"].email == "ana@bompreco.com.br"
        assert contacts["Bruno Lima"].phone_key == "2198765432" and contacts["Bruno Lima"].email is None
        invoice = session.scalars(select(Invoice).where(Invoice.number == "NF-1")).one()
        assert invoice.debtor_id == market.id and invoice.creditor_id == creditor.id
        assert invoice.principal == Decimal("1234.56") and isinstance(invoice.principal, Decimal)
        assert (invoice.issue_date, invoice.due_date) == (date(2026, 2, 1), date(2026, 3, 3))
        assert invoice.status is InvoiceStatus.OPEN and invoice.description == "Pedido 77"
        bakery = session.scalars(select(Debtor).where(Debtor.cnpj == "12ABC34501DE35")).one()
        assert bakery.cnpj_root == "12ABC345" and bakery.segment is None
        assert [(c.phone_e164, c.email) for c in bakery.contacts] == [(None, "carla@sol.com.br")]


def test_reimport_changes_nothing(session_factory: sessionmaker[Session]) -> None:
    assert run_import(session_factory, GOOD).ok
    before = (counts(session_factory), snapshot(session_factory))
    again = run_import(session_factory, GOOD)
    assert again.ok and not again.changed
    assert (again.invoices_unchanged, again.debtors_created, again.contacts_created) == (3, 0, 0)
    assert (counts(session_factory), snapshot(session_factory)) == before


def test_reimport_with_other_spellings_changes_nothing(session_factory: sessionmaker[Session]) -> None:
    assert run_import(session_factory, GOOD).ok
    before = snapshot(session_factory)
    respelled = portfolio(
        "11222333000181;Mercado Bom Preço Ltda;Varejo;Ana Souza;+55 (11) 8765-4321;ANA@bompreco.com.br;NF-1;2026-02-01;2026-03-03;R$ 1.234,56;Pedido 77",
        "12ABC34501DE35;Padaria Sol Nascente;;Carla;;carla@sol.com.br;P-10;2026-01-10;2026-02-10;5.000,00;Pães",
    )
    report = run_import(session_factory, respelled)
    assert report.ok and not report.changed and report.invoices_unchanged == 2
    assert snapshot(session_factory) == before


def test_one_bad_row_among_good_ones_imports_nothing(session_factory: sessionmaker[Session]) -> None:
    bad = portfolio(*ROWS[:2], ROWS[2].replace("07/03/2026", "31/02/2026"), ROWS[3])
    report = run_import(session_factory, bad)  # even committing writes nothing
    assert [(e.line, e.column) for e in report.errors] == [(4, "vencimento")]
    assert report.invoices_created == 0
    assert counts(session_factory) == (0, 0, 0)


def test_conflicting_reimport_reports_the_line_and_changes_nothing(
    session_factory: sessionmaker[Session],
) -> None:
    assert run_import(session_factory, GOOD).ok
    before = (counts(session_factory), snapshot(session_factory))
    changed = portfolio(
        "98765432000198;Empório Novo;Atacado;Davi;31 99999-8888;;N-1;01/02/2026;01/03/2026;10,00;",
        ROWS[2].replace("99,90", "120,00"),
        ROWS[3],
    )
    report = run_import(session_factory, changed)
    assert [(e.line, e.column, e.reason) for e in report.errors] == [
        (3, "valor", "fatura já importada com dados diferentes: valor 99,90 ≠ 120,00")
    ]
    assert (counts(session_factory), snapshot(session_factory)) == before


def test_bad_rows_and_database_conflicts_are_reported_together(
    session_factory: sessionmaker[Session],
) -> None:
    assert run_import(session_factory, GOOD).ok
    mixed = portfolio(
        ROWS[3].replace(";5000;", ";5001;"),
        ROWS[2].replace("11987654321", "20987654321").replace("NF-2", "NF-9"),
    )
    report = run_import(session_factory, mixed)
    assert [(e.line, e.column) for e in report.errors] == [(2, "valor"), (3, "contato_telefone")]
    assert counts(session_factory) == (2, 3, 3)


def test_invoice_already_imported_for_another_debtor_or_dates(session_factory: sessionmaker[Session]) -> None:
    assert run_import(session_factory, GOOD).ok
    moved = portfolio(
        "98765432000198;Empório Novo;;Davi;31 99999-8888;;NF-2;06/02/2026;08/03/2026;99,90;",
    )
    report = run_import(session_factory, moved)
    assert [(e.line, e.column) for e in report.errors] == [(2, "cnpj"), (2, "emissao"), (2, "vencimento")]
    assert "11.222.333/0001-81 ≠ 98.765.432/0001-98" in report.errors[0].reason
    assert "05/02/2026 ≠ 06/02/2026" in report.errors[1].reason
    assert counts(session_factory) == (2, 3, 3)


def test_dry_run_writes_nothing(session_factory: sessionmaker[Session]) -> None:
    report = run_import(session_factory, GOOD, dry_run=True)
    assert report.ok and report.dry_run
    assert (report.debtors_created, report.contacts_created, report.invoices_created) == (2, 3, 3)
    assert counts(session_factory) == (0, 0, 0)


def test_dry_run_checks_conflicts_with_the_database(session_factory: sessionmaker[Session]) -> None:
    assert run_import(session_factory, GOOD).ok
    report = run_import(session_factory, portfolio(ROWS[2].replace("99,90", "98,90")), dry_run=True)
    assert [(e.line, e.column) for e in report.errors] == [(2, "valor")]


def test_existing_debtor_is_updated_and_gets_new_contacts(session_factory: sessionmaker[Session]) -> None:
    assert run_import(session_factory, GOOD).ok
    update = portfolio(
        # New razao_social and segment; Ana's stored contact gets nothing new (already has both).
        "11222333000181;Mercado Bom Preço Eireli;Supermercado;Ana Souza;11 98765-4321;;NF-3;01/04/2026;01/05/2026;10,00;",
        # A new contact for an existing debtor, and Bruno (matched by phone) gets his e-mail.
        "11222333000181;Mercado Bom Preço Eireli;Supermercado;Elisa;;elisa@bompreco.com.br;NF-3;01/04/2026;01/05/2026;10,00;",
        "11222333000181;Mercado Bom Preço Eireli;Supermercado;Bruno Lima;21 99876 5432;bruno@bompreco.com.br;NF-1;01/02/2026;03/03/2026;1234,56;Pedido 77",
        # Empty segment keeps the stored one (none here), same razao_social: no update.
        "12ABC34501DE35;Padaria Sol Nascente;;Carla;(31) 3333-4444;carla@sol.com.br;P-10;10/01/2026;10/02/2026;5000;Pães",
    )
    report = run_import(session_factory, update)
    assert report.ok, report.errors
    assert (report.debtors_created, report.debtors_updated) == (0, 1)
    assert (report.contacts_created, report.contacts_updated) == (1, 2)
    assert (report.invoices_created, report.invoices_unchanged) == (1, 2)
    with session_factory() as session:
        market = session.scalars(select(Debtor).where(Debtor.cnpj == "11222333000181")).one()
        assert (market.legal_name, market.segment) == ("Mercado Bom Preço Eireli", "Supermercado")
        emails = {c.name: c.email for c in market.contacts}
        assert emails == {
            "Ana Souza": "ana@bompreco.com.br",
            "Bruno Lima": "bruno@bompreco.com.br",
            "Elisa": "elisa@bompreco.com.br",
        }
        carla = session.scalars(select(Contact).where(Contact.name == "Carla")).one()
        assert (carla.phone_e164, carla.email) == ("+553133334444", "carla@sol.com.br")
    before = snapshot(session_factory)
    assert not run_import(session_factory, update).changed
    assert snapshot(session_factory) == before


def test_progress_is_reported_up_to_the_total(session: Session) -> None:
    calls: list[tuple[int, int]] = []
    creditor = get_or_create_creditor(session, Settings())
    report = import_portfolio(
        session, creditor, GOOD, progress=lambda done, total: calls.append((done, total))
    )
    assert report.ok
    assert calls and calls[-1] == (8, 8)  # 2 debtors + 3 contacts + 3 invoices
    session.rollback()


def test_many_rows_are_written_in_batches(session_factory: sessionmaker[Session]) -> None:
    rows = [
        f"11222333000181;Mercado Bom Preço Ltda;Varejo;Ana;11987654321;;N{i};01/02/2026;03/03/2026;{i},00;"
        for i in range(1, 12_001)
    ]
    report = run_import(session_factory, portfolio(*rows))
    assert report.ok and report.invoices_created == 12_000
    assert counts(session_factory) == (1, 1, 12_000)
    assert not run_import(session_factory, portfolio(*rows)).changed


# --- CLI -------------------------------------------------------------------------------------


def cli(tmp_path: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "NEGOCIA_DATABASE_URL": database_url,
        "PYTHONPATH": str(REPO_ROOT),
        "PYTHONIOENCODING": "utf-8",
    }
    return subprocess.run(
        [sys.executable, "-m", "server.cli", "import-portfolio", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )


def test_cli_imports_then_changes_nothing(
    tmp_path: Path, database_url: str, session_factory: sessionmaker[Session]
) -> None:
    path = tmp_path / "carteira.csv"
    path.write_bytes(GOOD)
    first = cli(tmp_path, database_url, str(path))
    assert first.returncode == 0, first.stderr
    assert "Carteira importada de carteira.csv." in first.stdout
    assert "devedores: 2 criado(s), 0 atualizado(s)" in first.stdout
    assert "faturas: 3 criada(s), 0 já importada(s)" in first.stdout
    assert first.stderr == ""
    assert counts(session_factory) == (2, 3, 3)
    before = snapshot(session_factory)

    second = cli(tmp_path, database_url, str(path))
    assert second.returncode == 0, second.stderr
    assert "faturas: 0 criada(s), 3 já importada(s)" in second.stdout
    assert "Nada mudou" in second.stdout
    assert snapshot(session_factory) == before


def test_cli_reports_every_bad_row_and_imports_nothing(
    tmp_path: Path, database_url: str, session_factory: sessionmaker[Session]
) -> None:
    path = tmp_path / "carteira.csv"
    path.write_bytes(
        portfolio(
            ROWS[0],
            ROWS[1].replace("1234.56", "1234.50"),
            ROWS[2].replace("07/03/2026", "31/02/2026"),
            ROWS[3].replace("12.ABC.345/01DE-35", "12.ABC.345/01DE-36"),
        )
    )
    result = cli(tmp_path, database_url, str(path))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("linha 3, coluna valor: fatura NF-1 aparece com dados diferentes na linha 2")
    assert lines[1] == "linha 4, coluna vencimento: data inválida '31/02/2026' (use dd/mm/aaaa ou aaaa-mm-dd)"
    assert lines[2].startswith("linha 5, coluna cnpj: CNPJ inválido '12.ABC.345/01DE-36'")
    assert lines[3] == "Nenhuma linha importada: 3 erro(s)."
    assert result.stdout == ""
    assert counts(session_factory) == (0, 0, 0)


def test_cli_conflict_with_database_exits_1(
    tmp_path: Path, database_url: str, session_factory: sessionmaker[Session]
) -> None:
    assert run_import(session_factory, GOOD).ok
    before = snapshot(session_factory)
    path = tmp_path / "carteira.csv"
    path.write_bytes(portfolio(ROWS[3].replace(";5000;", ";5.100,00;")))
    result = cli(tmp_path, database_url, str(path))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "linha 2, coluna valor: fatura já importada com dados diferentes: valor 5.000,00 ≠ 5.100,00",
        "Nenhuma linha importada: 1 erro(s).",
    ]
    assert snapshot(session_factory) == before


def test_cli_dry_run_writes_nothing(
    tmp_path: Path, database_url: str, session_factory: sessionmaker[Session]
) -> None:
    path = tmp_path / "carteira.csv"
    path.write_bytes(GOOD)
    result = cli(tmp_path, database_url, str(path), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "nada foi gravado" in result.stdout
    assert "faturas: 3 seriam criada(s)" in result.stdout
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Creditor)) == 0
    assert counts(session_factory) == (0, 0, 0)


def test_cli_missing_file_exits_2(tmp_path: Path, database_url: str) -> None:
    result = cli(tmp_path, database_url, str(tmp_path / "nao-existe.csv"))
    assert result.returncode == 2
    assert "arquivo não encontrado" in result.stderr


def test_cli_directory_instead_of_file_exits_2(tmp_path: Path, database_url: str) -> None:
    result = cli(tmp_path, database_url, str(tmp_path))
    assert result.returncode == 2
    assert "não foi possível ler" in result.stderr


def test_cli_uninitialised_database_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "carteira.csv"
    path.write_bytes(GOOD)
    result = cli(tmp_path, f"sqlite:///{tmp_path / 'vazio.db'}", str(path))
    assert result.returncode == 2
    assert "banco não inicializado: rode `negocia db upgrade`" in result.stderr


@pytest.mark.parametrize("content", [b"", HEADER.encode() + b"\n"])
def test_cli_file_without_data_exits_1(tmp_path: Path, database_url: str, content: bytes) -> None:
    path = tmp_path / "carteira.csv"
    path.write_bytes(content)
    result = cli(tmp_path, database_url, str(path))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "linha 1: arquivo sem linhas de dados",
        "Nenhuma linha importada: 1 erro(s).",
    ]
