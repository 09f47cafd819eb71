"""Action tests run in .venv-rasa (rasa_sdk) against a live negocia server from .venv.

The server is started as a real process on a temporary SQLite database loaded through the real
CLI (`negocia db upgrade`, `negocia import-portfolio`).
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.business_day import business_today

ROOT = Path(__file__).resolve().parents[2]
NEGOCIA = ROOT / ".venv" / "bin" / "negocia"
TOKEN = "action-tests-token"
ANA = "+5531991234567"
BIA = "+5548996665555"
STRANGER = "+5521988887777"
CARLOS = "+5511987654321"  # second contact of Mercado, never verified in these tests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cd(first12: str) -> str:
    """Check digits of a CNPJ (module 11), so fixtures stay valid without importing the server."""

    def digit(chars: str, weights: list[int]) -> int:
        r = sum(int(c) * w for c, w in zip(chars, weights, strict=False)) % 11
        return 0 if r < 2 else 11 - r

    d1 = digit(first12, [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2])
    d2 = digit(first12 + str(d1), [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2])
    return f"{d1}{d2}"


def portfolio_csv(today: date) -> str:
    due = (today - timedelta(days=30)).isoformat()
    issued = (today - timedelta(days=60)).isoformat()
    future = (today + timedelta(days=10)).isoformat()
    header = "cnpj;razao_social;segmento;contato_nome;contato_telefone;contato_email;fatura;emissao;vencimento;valor;descricao"
    return (
        "\n".join(
            [
                header,
                f"12.345.678/0001-95;Mercado Bom Preço Ltda;varejo;Ana Souza;(31) 99123-4567;;NF-1;{issued};{due};1.000,00;Pedido 1",
                f"12.345.678/0001-95;Mercado Bom Preço Ltda;varejo;Ana Souza;(31) 99123-4567;;NF-2;{issued};{future};250,00;Pedido 2",
                f"12.345.678/0001-95;Mercado Bom Preço Ltda;varejo;Carlos Lima;11987654321;;NF-2;{issued};{future};250,00;Pedido 2",
                f"12.ABC.345/01DE-35;Tech Nova Sistemas Ltda;serviços;Beatriz Alves;+55 48 99666-5555;;NF-3;{issued};{due};990,00;Licenças",
                f"90.214.567/0001-53;Restaurante Sabor Mineiro Ltda;alimentação;Marcos;(31) 99111-0001;;NF-10;{issued};{due};12.780,90;Fornecimento",
                f"55.098.712/0001-87;Farmácia Vida Ltda;saúde;Roberto;(31) 99111-0002;;NF-11;{issued};{due};6.430,15;Produtos",
                f"28.374.651/0001-60;Hotel Mar Azul Ltda;hotelaria;Paulo;(31) 99111-0003;;NF-12;{issued};{due};25.300,00;Enxoval",
                f"67.120.384/0001-57;Construtora Alicerce S.A.;construção;Fernanda;(31) 99111-0004;;NF-13;{issued};{due};3.000,00;Material",
                f"33.221.100/0001-{cd('332211000001')};Oficina Boa Ltda;serviços;João;(31) 99111-0005;;NF-14;{issued};{due};800,00;Peças",
            ]
        )
        + "\n"
    )


class LiveServer:
    def __init__(self, url: str, db_path: Path) -> None:
        self.url = url
        self.db_path = db_path

    def conversation_for(self, phone: str) -> str:
        """Create (through the sandbox channel) and return the opaque id of a phone's conversation."""
        body = json.dumps({"sender": phone, "text": "oi"}).encode()
        req = urllib.request.Request(
            self.url + "/channels/sandbox/messages", data=body, headers={"Content-Type": "application/json"}
        )
        urllib.request.urlopen(req, timeout=30).read()
        with sqlite3.connect(self.db_path) as conn:
            row = conn.execute("SELECT public_id FROM conversations WHERE address = ?", (phone,)).fetchone()
        assert row, f"no conversation for {phone}"
        return str(row[0])


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("server")
    db_path = tmp / "negocia.db"
    port = free_port()
    env = {
        **os.environ,
        "NEGOCIA_DATABASE_URL": f"sqlite:///{db_path}",
        "NEGOCIA_SERVICE_TOKEN": TOKEN,
        "NEGOCIA_HTTP_PORT": str(port),
        "NEGOCIA_RASA_PORT": str(free_port()),  # nothing listens: the server's own replies do not matter here
    }
    csv_path = tmp / "carteira.csv"
    csv_path.write_text(portfolio_csv(business_today()), encoding="utf-8")
    subprocess.run([str(NEGOCIA), "db", "upgrade"], env=env, check=True, cwd=tmp)
    subprocess.run([str(NEGOCIA), "import-portfolio", str(csv_path)], env=env, check=True, cwd=tmp)
    proc = subprocess.Popen([str(NEGOCIA), "serve"], env=env, cwd=tmp)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url + "/healthz", timeout=1).read()
            break
        except OSError as exc:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("negocia server did not start") from exc
            time.sleep(0.3)
    yield LiveServer(url, db_path)
    proc.terminate()
    proc.wait(timeout=15)


@pytest.fixture(scope="session")
def domain() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))


@pytest.fixture
def api(live_server: LiveServer) -> Any:
    from actions.server_api import ServerApi

    return ServerApi(base_url=live_server.url, token=TOKEN)
