"""The real stack: `negocia run` (trained model, Rasa, action server, server) on free ports."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.business_day import business_today
from tests.fakes_telegram import FakeTelegram, running_fake
from tests.fakes_twilio import ACCOUNT_SID as TWILIO_ACCOUNT_SID
from tests.fakes_twilio import AUTH_TOKEN as TWILIO_AUTH_TOKEN
from tests.fakes_twilio import WHATSAPP_FROM, FakeTwilio

ROOT = Path(__file__).resolve().parents[2]
NEGOCIA = ROOT / ".venv" / "bin" / "negocia"
START_TIMEOUT_S = 420
TELEGRAM_SECRET = "e2e-telegram-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cnpj(first12: str) -> str:
    from server.domain.cnpj import check_digits, format_cnpj

    return format_cnpj(first12 + check_digits(first12))


# One debtor per flow under test (an agreement consumes its invoices): phone, contact, company,
# the first 12 characters of its CNPJ, and principals of invoices 30 days overdue.
DEBTORS = [
    ("(31) 99123-4567", "Ana Souza", "Mercado Bom Preço Ltda", "123456780001", ["2000.00", "500.00"]),
    ("(31) 98765-1111", "Dora Reis", "Mercado Bom Preço Ltda", "123456780001", None),
    ("(11) 98765-4321", "Carlos Lima", "Padaria Pão Dourado Ltda", "458712930001", ["700.00"]),
    ("(31) 97000-0001", "Caio Prado", "Caixa Forte Comércio Ltda", "101010100001", ["2000.00", "500.00"]),
    ("(31) 97000-0002", "Paula Dias", "Parcela Certa Ltda", "202020200001", ["6000.00"]),
    ("(31) 97000-0003", "Otto Lins", "Oferta Justa Ltda", "303030300001", ["2000.00", "500.00"]),
    ("(31) 97000-0004", "Lia Melo", "Limite Alto Ltda", "404040400001", ["2000.00", "500.00"]),
    ("(31) 97000-0005", "Davi Reis", "Disputa Comércio Ltda", "505050500001", ["900.00"]),
    ("(31) 97000-0006", "Jade Rios", "Jurídico Indústria Ltda", "606060600001", ["900.00"]),
    ("(31) 97000-0007", "Olga Sá", "Opção Sair Ltda", "707070700001", ["900.00"]),
    ("(31) 97000-0009", "Wanda Lopes", "Zap Atacado Ltda", "909090900001", ["2000.00", "500.00"]),
    ("(31) 97000-0010", "Rita Luz", "Risada Comércio Ltda", "131313130001", ["900.00"]),
    ("(31) 97000-0011", "Gil Nunes", "Garatuja Comércio Ltda", "141414140001", ["900.00"]),
    ("(31) 97000-0008", "Tito Gama", "Telegrama Comércio Ltda", "808080800001", ["2000.00", "500.00"]),
]


def portfolio_csv(today: date) -> str:
    due = (today - timedelta(days=30)).strftime("%d/%m/%Y")
    issued = (today - timedelta(days=60)).strftime("%d/%m/%Y")
    rows = [
        "cnpj,razao_social,segmento,contato_nome,contato_telefone,contato_email,fatura,emissao,vencimento,valor,descricao"
    ]
    invoices: dict[str, list[str]] = {}
    for phone, name, company, first12, principals in DEBTORS:
        if principals is not None:
            invoices[first12] = principals
        for i, principal in enumerate(invoices[first12], start=1):
            rows.append(
                f"{_cnpj(first12)},{company},varejo,{name},{phone},,NF-{first12[:4]}-{i},{issued},{due},{principal},Pedido"
            )
    return "\n".join(rows) + "\n"


class Stack:
    def __init__(
        self, base_url: str, log_path: Path, db_path: Path, internal_ports: dict[str, int] | None = None
    ) -> None:
        self.base_url = base_url
        self.internal_ports = internal_ports or {}  # Rasa's and the action server's
        self.log_path = log_path
        self.db_path = db_path
        self.client = httpx.Client(base_url=base_url, timeout=60)

    def say(self, sender: str, text: str) -> list[str]:
        return [m["text"] for m in self.turn(sender, text)]

    def turn(self, sender: str, text: str) -> list[dict]:
        r = self.client.post("/channels/sandbox/messages", json={"sender": sender, "text": text})
        assert r.status_code == 200, r.text
        return r.json()["messages"]

    def query(self, sql: str, *args: object) -> list[tuple]:
        with sqlite3.connect(self.db_path) as conn:
            return conn.execute(sql, args).fetchall()


@pytest.fixture(scope="session")
def fake_telegram() -> Iterator[FakeTelegram]:
    with running_fake() as fake:
        yield fake


@pytest.fixture(scope="session")
def fake_twilio() -> Iterator[FakeTwilio]:
    fake = FakeTwilio().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def stack(
    tmp_path_factory: pytest.TempPathFactory, fake_telegram: FakeTelegram, fake_twilio: FakeTwilio
) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("stack")
    http_port = free_port()
    env = {
        **os.environ,
        "NEGOCIA_DATABASE_URL": f"sqlite:///{tmp / 'negocia.db'}",
        "NEGOCIA_HTTP_PORT": str(http_port),
        "NEGOCIA_RASA_PORT": str(free_port()),
        "NEGOCIA_ACTIONS_PORT": str(free_port()),
        "NEGOCIA_SERVICE_TOKEN": "e2e-token",
        # WhatsApp through the fake Twilio; webhooks are signed for the URL the server is reached at.
        "NEGOCIA_PUBLIC_BASE_URL": f"http://127.0.0.1:{http_port}",
        "NEGOCIA_TWILIO_ACCOUNT_SID": TWILIO_ACCOUNT_SID,
        "NEGOCIA_TWILIO_AUTH_TOKEN": TWILIO_AUTH_TOKEN,
        "NEGOCIA_TWILIO_WHATSAPP_FROM": WHATSAPP_FROM,
        "NEGOCIA_TWILIO_API_BASE_URL": fake_twilio.url,
        "NEGOCIA_TELEGRAM_BOT_TOKEN": fake_telegram.token,
        "NEGOCIA_TELEGRAM_SECRET_TOKEN": TELEGRAM_SECRET,
        "NEGOCIA_TELEGRAM_API_BASE_URL": fake_telegram.base_url,
    }
    csv_path = tmp / "carteira.csv"
    csv_path.write_text(portfolio_csv(business_today()), encoding="utf-8")
    subprocess.run([str(NEGOCIA), "db", "upgrade"], env=env, check=True)
    subprocess.run([str(NEGOCIA), "import-portfolio", str(csv_path)], env=env, check=True)
    log_path = tmp / "stack.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [str(NEGOCIA), "run", "--no-demo"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
    )
    base_url = f"http://127.0.0.1:{http_port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"negocia run exited {proc.returncode}:\n{log_path.read_text()[-4000:]}")
            try:
                if httpx.get(base_url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"stack not ready in time:\n{log_path.read_text()[-4000:]}")
            time.sleep(1)
        internal = {"rasa": int(env["NEGOCIA_RASA_PORT"]), "actions": int(env["NEGOCIA_ACTIONS_PORT"])}
        yield Stack(base_url, log_path, tmp / "negocia.db", internal)
    finally:
        proc.send_signal(signal.SIGINT)  # what Ctrl-C does
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        sys.stdout.write(log_path.read_text()[-2000:] if proc.returncode not in (0, None) else "")


# Browser tests: Debian's chromium (make setup installs it), driven by Playwright; no browser download.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]  # fmt: skip
ARTIFACTS = ROOT / "test-artifacts"


# Module scope, not session: while Playwright's sync API is open it runs an event loop in this
# thread, and later tests that call asyncio.run() would fail.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is required for browser tests (make setup installs it)")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield launched
        launched.close()
