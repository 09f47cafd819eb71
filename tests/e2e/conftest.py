"""The real stack: `negocia run` (trained model, Rasa, action server, server) on free ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
NEGOCIA = ROOT / ".venv" / "bin" / "negocia"
START_TIMEOUT_S = 420


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def portfolio_csv(today: date) -> str:
    due = (today - timedelta(days=30)).strftime("%d/%m/%Y")
    issued = (today - timedelta(days=60)).strftime("%d/%m/%Y")
    return (
        "cnpj,razao_social,segmento,contato_nome,contato_telefone,contato_email,fatura,emissao,vencimento,valor,descricao\n"
        f"12.345.678/0001-95,Mercado Bom Preço Ltda,varejo,Ana Souza,(31) 99123-4567,,NF-1,{issued},{due},2000.00,Pedido\n"
        f"12.345.678/0001-95,Mercado Bom Preço Ltda,varejo,Ana Souza,(31) 99123-4567,,NF-2,{issued},{due},500.00,Pedido\n"
        f"12.345.678/0001-95,Mercado Bom Preço Ltda,varejo,Dora Reis,(31) 98765-1111,,NF-1,{issued},{due},2000.00,Pedido\n"
        f"12.345.678/0001-95,Mercado Bom Preço Ltda,varejo,Dora Reis,(31) 98765-1111,,NF-2,{issued},{due},500.00,Pedido\n"
        f"45.871.293/0001-10,Padaria Pão Dourado Ltda,alimentação,Carlos Lima,(11) 98765-4321,,NF-3,{issued},{due},700.00,Farinha\n"
    )


class Stack:
    def __init__(self, base_url: str, log_path: Path) -> None:
        self.base_url = base_url
        self.log_path = log_path
        self.client = httpx.Client(base_url=base_url, timeout=60)

    def say(self, sender: str, text: str) -> list[str]:
        r = self.client.post("/channels/sandbox/messages", json={"sender": sender, "text": text})
        assert r.status_code == 200, r.text
        return [m["text"] for m in r.json()["messages"]]


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("stack")
    http_port = free_port()
    env = {
        **os.environ,
        "NEGOCIA_DATABASE_URL": f"sqlite:///{tmp / 'negocia.db'}",
        "NEGOCIA_HTTP_PORT": str(http_port),
        "NEGOCIA_RASA_PORT": str(free_port()),
        "NEGOCIA_ACTIONS_PORT": str(free_port()),
        "NEGOCIA_SERVICE_TOKEN": "e2e-token",
    }
    csv_path = tmp / "carteira.csv"
    csv_path.write_text(portfolio_csv(date.today()), encoding="utf-8")
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
        yield Stack(base_url, log_path)
    finally:
        proc.send_signal(signal.SIGINT)  # what Ctrl-C does
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        sys.stdout.write(log_path.read_text()[-2000:] if proc.returncode not in (0, None) else "")
