"""Benchmark of the portfolio import on SQLite and PostgreSQL.

Generates a realistic portfolio CSV (N data rows; debtors with 1–2 contacts; some invoices on two
rows, one per contact), imports it into a fresh SQLite file and a fresh PostgreSQL database, then
re-imports it (nothing must change). Last line: ``sqlite_rows_per_s=<n> postgres_rows_per_s=<n>``.

    PYTHONPATH=. python bench/import_portfolio.py [--rows 100000] [--debtors 15000]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import create_engine, func, select, text

from server.db.migrate import upgrade
from server.db.models import Contact, Creditor, Debtor, Invoice
from server.db.session import make_engine, make_session_factory
from server.domain.cnpj import check_digits
from server.domain.phone import VALID_DDDS
from server.services.portfolio_import import ImportReport, import_portfolio

PG_ADMIN_URL = os.environ.get(
    "NEGOCIA_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
HEADER = "cnpj;razao_social;segmento;contato_nome;contato_telefone;contato_email;fatura;emissao;vencimento;valor;descricao"
SEGMENTS = ["Varejo", "Supermercado", "Restaurante", "Padaria", "Hotelaria", "Atacado", ""]
NAMES = ["Ana", "Bruno", "Carla", "Diego", "Eduarda", "Felipe", "Gabriela", "Henrique", "Isabela", "Joao"]
SURNAMES = ["Silva", "Souza", "Oliveira", "Santos", "Pereira", "Lima", "Carvalho", "Ferreira", "Almeida"]
KINDS = ["Comércio", "Mercado", "Distribuidora", "Restaurante", "Padaria", "Empório", "Atacadista"]


def _cnpj(rng: random.Random, index: int) -> str:
    first12 = f"{index:08d}0001" if rng.random() < 0.9 else f"{index:08d}{rng.randint(2, 99):04d}"
    cnpj = first12 + check_digits(first12)
    if rng.random() < 0.5:
        return f"{cnpj[:2]}.{cnpj[2:5]}.{cnpj[5:8]}/{cnpj[8:12]}-{cnpj[12:]}"
    return cnpj


def _phone(rng: random.Random, ddds: list[int]) -> str:
    ddd, number = rng.choice(ddds), f"9{rng.randint(10_000_000, 99_999_999)}"
    style = rng.randrange(4)
    if style == 0:
        return f"({ddd}) {number[:5]}-{number[5:]}"
    if style == 1:
        return f"+55 {ddd} {number[:5]}-{number[5:]}"
    if style == 2:
        return f"{ddd}{number}"
    return f"0{ddd} {number[:5]} {number[5:]}"


def _amount(rng: random.Random) -> str:
    cents = rng.randint(5_000, 5_000_000)
    value = Decimal(cents) / 100
    if rng.random() < 0.5:
        integer, decimals = f"{value:.2f}".split(".")
        return f"{int(integer):,}".replace(",", ".") + "," + decimals
    return f"{value:.2f}"


def _date(day: date, iso: bool) -> str:
    return day.isoformat() if iso else day.strftime("%d/%m/%Y")


def _debtor_rows(rng: random.Random, index: int, invoices: int, ddds: list[int]) -> Iterator[str]:
    cnpj = _cnpj(rng, index + 10_000)
    name = f"{rng.choice(KINDS)} {rng.choice(SURNAMES)} {index} Ltda"
    segment = rng.choice(SEGMENTS)
    contacts = []
    for _ in range(rng.choice((1, 2))):
        person = f"{rng.choice(NAMES)} {rng.choice(SURNAMES)}"
        email = f"{person.split()[0].lower()}.{index}@empresa{index}.com.br" if rng.random() < 0.6 else ""
        phone = _phone(rng, ddds) if (rng.random() < 0.9 or not email) else ""
        contacts.append((person, phone, email))
    produced = 0
    while produced < invoices:
        number = f"NF-{index:06d}-{produced:04d}"
        issue = date(2025, 1, 1) + timedelta(days=rng.randint(0, 500))
        due = issue + timedelta(days=rng.choice((15, 28, 30, 45, 60)))
        iso = rng.random() < 0.3
        amount = _amount(rng)
        description = f"Pedido {rng.randint(1000, 99999)}"
        both = len(contacts) == 2 and produced + 2 <= invoices and rng.random() < 0.3
        chosen = contacts if both else [contacts[produced % len(contacts)]]
        for person, phone, email in chosen:
            yield ";".join(
                (
                    cnpj,
                    name,
                    segment,
                    person,
                    phone,
                    email,
                    number,
                    _date(issue, iso),
                    _date(due, iso),
                    amount,
                    description,
                )
            )
            produced += 1


def generate_csv(rows: int, debtors: int, seed: int = 42) -> bytes:
    """``rows`` data rows spread over at most ``debtors`` debtors."""
    rng = random.Random(seed)
    ddds = sorted(VALID_DDDS)
    debtors = max(1, min(debtors, rows))
    per_debtor, extra = divmod(rows, debtors)
    lines = [HEADER]
    for index in range(debtors):
        lines.extend(_debtor_rows(rng, index, per_debtor + (1 if index < extra else 0), ddds))
    return ("\n".join(lines) + "\n").encode("utf-8")


def _counts(session_factory) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    with session_factory() as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(model)) for model in (Debtor, Contact, Invoice)
        )


def _import_once(session_factory, data: bytes) -> tuple[float, ImportReport]:  # type: ignore[no-untyped-def]
    with session_factory() as session:
        creditor = session.scalar(select(Creditor))
        started = time.perf_counter()
        report = import_portfolio(session, creditor, data)
        session.commit()
        elapsed = time.perf_counter() - started
    if report.errors:
        raise SystemExit(f"import failed: {report.errors[:5]}")
    return elapsed, report


def bench_database(label: str, url: str, data: bytes, rows: int) -> int:
    upgrade(url)
    engine = make_engine(url)
    try:
        session_factory = make_session_factory(engine)
        with session_factory() as session:
            session.add(Creditor(legal_name="Credora Bench Ltda", trade_name="Bench", cnpj="33445566000186"))
            session.commit()
        elapsed, report = _import_once(session_factory, data)
        debtors, contacts, invoices = _counts(session_factory)
        rate = int(rows / elapsed)
        print(
            f"{label}: {rows} linhas em {elapsed:.2f} s ({rate} linhas/s); "
            f"{debtors} devedores, {contacts} contatos, {invoices} faturas"
        )
        again, report = _import_once(session_factory, data)
        if report.changed or _counts(session_factory) != (debtors, contacts, invoices):
            raise SystemExit(f"{label}: re-import changed the database")
        print(f"{label}: reimportação sem mudanças em {again:.2f} s")
        return rate
    finally:
        engine.dispose()


def bench_sqlite(data: bytes, rows: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        return bench_database("sqlite", f"sqlite:///{Path(tmp) / 'bench.db'}", data, rows)


def bench_postgres(data: bytes, rows: int) -> int:
    name = f"negocia_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        return bench_database("postgres", PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name, data, rows)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--debtors", type=int, default=15_000)
    parser.add_argument("--save", type=Path, help="also write the generated CSV here")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    data = generate_csv(args.rows, args.debtors)
    print(
        f"CSV gerado: {args.rows} linhas, {len(data) / 1e6:.1f} MB em {time.perf_counter() - started:.2f} s"
    )
    if args.save:
        args.save.write_bytes(data)
    sqlite_rate = bench_sqlite(data, args.rows)
    postgres_rate = bench_postgres(data, args.rows)
    print(f"sqlite_rows_per_s={sqlite_rate} postgres_rows_per_s={postgres_rate}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
