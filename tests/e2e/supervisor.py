"""A small process supervisor for fault tests: the three processes `negocia run` starts (the same
commands, from server.runner.build_services), each one killable and restartable on its own, on a
dedicated PostgreSQL database (created here, dropped after) and Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

from server.rasa_endpoints import write_endpoints
from server.rasa_model import ensure_model
from server.runner import Service, build_services, child_env
from server.settings import Settings
from tests.business_day import business_today
from tests.e2e.conftest import NEGOCIA, ROOT, free_port, portfolio_csv

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
READY_S = 300


@contextmanager
def scratch_database() -> Iterator[str]:
    """A fresh PostgreSQL database (negocia_e2e_<random>), dropped afterwards."""
    name = f"negocia_e2e_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


@dataclass
class Node:
    """One server + Rasa + action server trio sharing the database and Redis."""

    name: str
    settings: Settings
    env: dict[str, str]
    services: dict[str, Service]
    logs: dict[str, Path] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.http_port}"

    def start(self, which: str) -> None:
        service = self.services[which]
        log = self.logs[which].open("ab")
        service.process = subprocess.Popen(
            service.argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def kill(self, which: str) -> None:
        """SIGKILL: no clean shutdown, as a crash."""
        process = self.services[which].process
        assert process is not None and process.poll() is None, f"{which} is not running"
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    def stop_all(self) -> None:
        for service in self.services.values():
            if service.process and service.process.poll() is None:
                os.killpg(service.process.pid, signal.SIGTERM)
        for service in self.services.values():
            if service.process:
                try:
                    service.process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(service.process.pid, signal.SIGKILL)

    def wait_up(self, which: str) -> None:
        url = {
            "server": f"{self.base_url}/healthz",
            "rasa": f"http://127.0.0.1:{self.settings.rasa_port}/status",
            "actions": f"http://127.0.0.1:{self.settings.actions_port}/health",
        }[which]
        deadline = time.monotonic() + READY_S
        while True:
            process = self.services[which].process
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"{self.name}/{which} exited:\n{self.logs[which].read_text()[-3000:]}")
            try:
                r = httpx.get(url, timeout=2)
                if r.status_code == 200 and (which != "rasa" or r.json().get("model_file")):
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}/{which} not up:\n{self.logs[which].read_text()[-3000:]}")
            time.sleep(1)


def make_node(name: str, tmp: Path, database_url: str, redis_url: str, extra: dict[str, str]) -> Node:
    env_settings = {
        "NEGOCIA_DATABASE_URL": database_url,
        "NEGOCIA_REDIS_URL": redis_url,
        "NEGOCIA_HTTP_PORT": str(free_port()),
        "NEGOCIA_RASA_PORT": str(free_port()),
        "NEGOCIA_ACTIONS_PORT": str(free_port()),
        "NEGOCIA_SERVICE_TOKEN": "e2e-token",
        "NEGOCIA_ENGINE_RETRY_SECONDS": "2",
        "NEGOCIA_ENGINE_RETRY_MAX_SECONDS": "4",
        "NEGOCIA_DUNNING_ENABLED": "false",
        **extra,
    }
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        **{k.removeprefix("NEGOCIA_").lower(): v for k, v in env_settings.items()},
    )
    endpoints = write_endpoints(settings, tmp / f"endpoints-{name}.yml")
    services = {s.name: s for s in build_services(settings, ensure_model(settings), endpoints)}
    env = {**child_env(settings), **env_settings}
    node = Node(name, settings, env, services)
    node.logs = {s: tmp / f"{name}-{s}.log" for s in services}
    return node


def load_portfolio(env: dict[str, str], tmp: Path) -> None:
    csv_path = tmp / "carteira.csv"
    csv_path.write_text(portfolio_csv(business_today()), encoding="utf-8")
    full = {**os.environ, **env}
    subprocess.run([str(NEGOCIA), "db", "upgrade"], env=full, check=True)
    subprocess.run([str(NEGOCIA), "import-portfolio", str(csv_path)], env=full, check=True)
