from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.db.models import Contact, Debtor, Invoice
from server.demo import DEMO_DEBTORS, load_demo
from server.runner import check_ports, port_is_free
from server.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_taken_port_is_reported_by_name(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {
            **os.environ,
            "NEGOCIA_HTTP_PORT": str(port),
            "NEGOCIA_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        }
        result = subprocess.run(
            [sys.executable, "-m", "server.cli", "run", "--no-demo"],
            env=env, cwd=ROOT, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert result.returncode == 2
    assert f"server (porta {port})" in result.stderr
    assert not (tmp_path / "x.db").exists()  # nothing was started or created


def test_port_helpers() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert not port_is_free(busy.getsockname()[1])
    check_ports([])


def test_demo_portfolio_loads_once(database_url: str, session: Session) -> None:
    settings = Settings(database_url=database_url, _env_file=None)  # type: ignore[call-arg]
    assert load_demo(settings) is True
    assert load_demo(settings) is False  # second start: nothing added
    assert session.scalar(select(func.count()).select_from(Debtor)) == len(DEMO_DEBTORS)
    invoices = sum(len(d.invoices) for d in DEMO_DEBTORS)
    assert session.scalar(select(func.count()).select_from(Invoice)) == invoices
    # One debtor with two contacts, one far above any sensible bot authority.
    per_debtor = session.execute(select(Contact.debtor_id, func.count()).group_by(Contact.debtor_id)).all()
    assert max(n for _, n in per_debtor) == 2
    biggest = session.scalar(
        select(func.sum(Invoice.principal))
        .group_by(Invoice.debtor_id)
        .order_by(func.sum(Invoice.principal).desc())
        .limit(1)
    )
    assert biggest is not None and biggest > 500_000
    assert session.scalar(select(func.count()).select_from(Debtor).where(Debtor.cnpj.like("12ABC%"))) == 1
