"""Quotes per second for a debtor with 50 open invoices, in process.

Two figures: the pure engine (balances of 50 invoices + the opening offer + every ladder step),
and the full service path (load invoices from SQLite, compute, check against the policy, persist
the quote). Prints one line per figure and a final `engine_quotes_per_s=<n> service_quotes_per_s=<n>`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server.db.migrate import upgrade
from server.db.models import Debtor, Invoice
from server.db.session import make_engine, make_session_factory
from server.domain import negotiation as moves
from server.domain.money import ZERO, updated_balance
from server.domain.negotiation import Situation
from server.domain.policy import DEFAULT_POLICY
from server.services.creditor import get_or_create_creditor
from server.services.negotiation import open_negotiation
from server.settings import Settings

TODAY = date(2026, 11, 22)


def invoices(n: int) -> list[tuple[Decimal, date]]:
    return [(Decimal(300 + 37 * i) + Decimal("0.45"), TODAY - timedelta(days=10 + 7 * i)) for i in range(n)]


def bench_engine(n_invoices: int, seconds: float) -> float:
    items = invoices(n_invoices)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        balances = [updated_balance(p, due, TODAY) for p, due in items]
        total = sum((b.total for b in balances), ZERO)
        days = max(b.days_late for b in balances)
        rule = DEFAULT_POLICY.rule_for(days, "varejo", total)
        moves.opening(Situation(total, rule, DEFAULT_POLICY.ladder, TODAY))
        count += 1
    return count / (time.perf_counter() - start)


def bench_service(n_invoices: int, seconds: float) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        upgrade(url)
        engine = make_engine(url)
        sessions = make_session_factory(engine)
        with sessions() as session:
            creditor = get_or_create_creditor(session, Settings(database_url=url, _env_file=None))  # type: ignore[call-arg]
            debtor = Debtor(creditor_id=creditor.id, cnpj="12345678000195", cnpj_root="12345678",
                            legal_name="Bench Ltda", segment="varejo")  # fmt: skip
            session.add(debtor)
            session.flush()
            for i, (principal, due) in enumerate(invoices(n_invoices)):
                session.add(Invoice(creditor_id=creditor.id, debtor_id=debtor.id, number=f"NF-{i}",
                                    issue_date=due - timedelta(days=30), due_date=due, principal=principal))  # fmt: skip
            session.commit()
            debtor_id = debtor.id
        count, start = 0, time.perf_counter()
        with sessions() as session:
            debtor = session.get(Debtor, debtor_id)
            assert debtor is not None
            while time.perf_counter() - start < seconds:
                result = open_negotiation(session, debtor, TODAY)
                assert result.quote is not None
                count += 1
                if count % 200 == 0:
                    session.commit()
            session.commit()
        rate = count / (time.perf_counter() - start)
        engine.dispose()
        return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--invoices", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    engine_rate = bench_engine(args.invoices, args.seconds)
    print(f"engine (pure domain), {args.invoices} invoices: {engine_rate:,.0f} quotes/s")
    service_rate = bench_service(args.invoices, args.seconds)
    print(f"service (SQLite, persisted), {args.invoices} invoices: {service_rate:,.0f} quotes/s")
    print(f"engine_quotes_per_s={engine_rate:.0f} service_quotes_per_s={service_rate:.0f}")


if __name__ == "__main__":
    main()
