"""`negocia run`: every process for local use, with prefixed logs and a clean Ctrl-C.

Starts the action server, the Rasa dialogue engine and the HTTP server, waits until the server's
/readyz says all three are reachable, then prints where to go.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from pydantic import SecretStr

from server.settings import PROJECT_ROOT, Settings

READY_TIMEOUT_S = 300


@dataclass
class Service:
    name: str
    port: int
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None


class PortTaken(RuntimeError):
    pass


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def check_ports(services: list[Service]) -> None:
    taken = [f"{s.name} (porta {s.port})" for s in services if not port_is_free(s.port)]
    if taken:
        raise PortTaken("porta(s) em uso: " + ", ".join(taken))


def child_env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "RASA_TELEMETRY_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONUNBUFFERED": "1",
        "NEGOCIA_HTTP_PORT": str(settings.http_port),
        "NEGOCIA_RASA_PORT": str(settings.rasa_port),
        "NEGOCIA_ACTIONS_PORT": str(settings.actions_port),
        "NEGOCIA_DATABASE_URL": settings.database_url,
        "NEGOCIA_SERVICE_TOKEN": settings.service_token.get_secret_value(),
        "NEGOCIA_SERVER_URL": f"http://127.0.0.1:{settings.http_port}",
        # The action server (rasa_sdk reads its host from SANIC_HOST, default 0.0.0.0) runs any
        # action for any tracker it is sent, with the service token: loopback only, beside Rasa.
        "SANIC_HOST": "127.0.0.1",
        **({"NEGOCIA_RASA_AUTH_TOKEN": settings.rasa_auth_token.get_secret_value()}
           if settings.rasa_auth_token else {}),
    }  # fmt: skip


def with_rasa_token(settings: Settings) -> Settings:
    """A random per-run token for Rasa's HTTP API when none is configured: its API is never open."""
    if settings.rasa_auth_token is not None:
        return settings
    return settings.model_copy(update={"rasa_auth_token": SecretStr(secrets.token_urlsafe(24))})


def _auth_args(settings: Settings) -> list[str]:
    # Rasa's HTTP API (tracker events on release) is bound to localhost; the token guards it
    # against other local users when NEGOCIA_RASA_AUTH_TOKEN is set.
    # One argument, "--auth-token=…": a generated token may start with "-" (token_urlsafe), which
    # argparse would take for an option when given as a separate argument (1 start in 64 failed).
    token = settings.rasa_auth_token
    return [f"--auth-token={token.get_secret_value()}"] if token else []


def build_services(
    settings: Settings, model: Path, endpoints: Path, root: Path = PROJECT_ROOT
) -> list[Service]:
    rasa = str(root / ".venv-rasa" / "bin" / "rasa")
    # `rasa run` through a launcher that builds the action-response validator once (see the script).
    rasa_fast = [str(root / ".venv-rasa" / "bin" / "python"), str(root / "scripts" / "rasa_run.py")]
    return [
        Service("actions", settings.actions_port,
                [rasa, "run", "actions", "--port", str(settings.actions_port), "--actions", "actions"]),
        Service("rasa", settings.rasa_port,
                [*rasa_fast, "run", "--enable-api", "--port", str(settings.rasa_port), "--model", str(model),
                 "--endpoints", str(endpoints), "--credentials", "credentials.yml",
                 "--interface", "127.0.0.1", *_auth_args(settings)]),
        Service("server", settings.http_port, [sys.executable, "-m", "server.cli", "serve"]),
    ]  # fmt: skip


def _pump(name: str, stream: object) -> None:
    prefix = f"[{name:<7}] "
    for raw in iter(stream.readline, b""):  # type: ignore[attr-defined]
        sys.stdout.write(prefix + raw.decode("utf-8", "replace"))
        sys.stdout.flush()


def start(service: Service, env: dict[str, str], root: Path = PROJECT_ROOT) -> None:
    service.process = subprocess.Popen(
        service.argv, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,  # Ctrl-C is handled here, not delivered to each child
    )  # fmt: skip
    threading.Thread(target=_pump, args=(service.name, service.process.stdout), daemon=True).start()


def stop_all(services: list[Service], grace_s: float = 10.0) -> None:
    for s in services:
        if s.process and s.process.poll() is None:
            s.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for s in services:
        if s.process is None:
            continue
        try:
            s.process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            s.process.kill()
            s.process.wait()


def wait_ready(
    settings: Settings,
    services: list[Service],
    should_stop: Callable[[], bool] = lambda: False,
    timeout_s: float = READY_TIMEOUT_S,
) -> bool:
    url = f"http://127.0.0.1:{settings.http_port}/readyz"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not should_stop():
        for s in services:
            if s.process and s.process.poll() is not None:
                print(f"[negocia] {s.name} terminou com status {s.process.returncode}", file=sys.stderr)
                return False
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(1)
    return False


def banner(settings: Settings) -> str:
    from server.demo import DEMO_DEBTORS

    base = f"http://127.0.0.1:{settings.http_port}"
    lines = [
        "",
        "negocia está pronto.",
        f"  Chat de demonstração: {base}/sandbox",
        f"  API (OpenAPI):        {base}/docs",
        "  Contatos de demonstração (telefone → raiz do CNPJ para confirmar):",
    ]
    for d in DEMO_DEBTORS:
        root = d.cnpj.replace(".", "").replace("/", "").replace("-", "")[:8]
        for c in d.contacts:
            lines.append(f"    {c.phone:<20} {c.name:<16} {d.legal_name} → {root}")
    lines.append("Ctrl-C encerra tudo.")
    return "\n".join(lines)


def run_all(settings: Settings, *, demo: bool = True) -> int:
    from server.db.migrate import upgrade
    from server.demo import load_demo
    from server.rasa_endpoints import write_endpoints
    from server.rasa_model import cached_model_path, ensure_model, rasa_bin

    settings = with_rasa_token(settings)
    if not rasa_bin().exists():
        print("[negocia] ambiente do Rasa ausente: rodando scripts/setup.sh", file=sys.stderr)
        subprocess.run(["bash", str(PROJECT_ROOT / "scripts" / "setup.sh")], check=True)
    endpoints = PROJECT_ROOT / "var" / f"endpoints-{settings.http_port}.yml"
    services = build_services(settings, cached_model_path(settings), endpoints)
    try:
        check_ports(services)  # before minutes of training, not after
    except PortTaken as exc:
        print(
            f"[negocia] {exc}. Altere NEGOCIA_HTTP_PORT, NEGOCIA_RASA_PORT ou NEGOCIA_ACTIONS_PORT.",
            file=sys.stderr,
        )
        return 2
    model = ensure_model(settings)
    services = build_services(settings, model, write_endpoints(settings, endpoints))
    upgrade(settings.database_url)
    if demo and load_demo(settings):
        print("[negocia] dados de demonstração carregados", file=sys.stderr)
    env = child_env(settings)
    interrupted = False

    def _on_signal(signum: int, _frame: object) -> None:
        nonlocal interrupted
        interrupted = True

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    for s in services:
        start(s, env)
    try:
        if not wait_ready(settings, services, lambda: interrupted):
            if not interrupted:
                print("[negocia] os serviços não ficaram prontos a tempo", file=sys.stderr)
                return 1
        else:
            print(banner(settings), flush=True)
        while not interrupted:
            for s in services:
                if s.process and s.process.poll() is not None:
                    print(f"[negocia] {s.name} terminou com status {s.process.returncode}", file=sys.stderr)
                    return 1
            time.sleep(0.5)
        return 0
    finally:
        print("[negocia] encerrando...", file=sys.stderr)
        stop_all(services)
