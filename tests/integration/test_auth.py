from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi import APIRouter
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server import cli
from server.api.deps import AdminUser, StaffUser
from server.clock import FixedClock
from server.container import Container
from server.db.models import Role, User
from server.main import create_app
from server.security import issue_token, verify_password
from server.services.users import UserError, authenticate, create_user
from server.settings import Settings, get_settings

REPO_ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "senha-forte-123"


def add_user(
    session: Session, email: str, role: Role = Role.COLLECTOR, *, name: str = "", active: bool = True
) -> User:
    user = create_user(session, email, PASSWORD, role, name=name)
    user.active = active
    session.commit()
    return user


def login(client: TestClient, username: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return client.post("/api/auth/token", data={"username": username, "password": password})


def token_for(client: TestClient, username: str) -> str:
    response = login(client, username)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_login_refused(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 401
    assert response.json() == {"detail": "e-mail ou senha inválidos"}
    assert response.headers["WWW-Authenticate"] == "Bearer"


# --- login and /me ----------------------------------------------------------------------------


def test_token_flow(client: TestClient, session: Session) -> None:
    ana = add_user(session, "ana@horizonte.com.br", name="Ana Cobradora")
    response = login(client, "ana@horizonte.com.br")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 480 * 60

    me = client.get("/api/auth/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json() == {
        "id": ana.id,
        "email": "ana@horizonte.com.br",
        "name": "Ana Cobradora",
        "role": "collector",
    }


def test_login_ignores_email_case_and_spaces(client: TestClient, session: Session) -> None:
    add_user(session, "Ana@Horizonte.com.br")
    assert login(client, "  ANA@horizonte.COM.BR ").status_code == 200


def test_wrong_password_is_refused(client: TestClient, session: Session) -> None:
    add_user(session, "ana@horizonte.com.br")
    assert_login_refused(login(client, "ana@horizonte.com.br", PASSWORD + "x"))


def test_unknown_user_is_refused_the_same_way(client: TestClient, session: Session) -> None:
    add_user(session, "ana@horizonte.com.br")
    assert_login_refused(login(client, "bia@horizonte.com.br"))
    assert_login_refused(login(client, "nem-um-email"))


def test_inactive_user_cannot_log_in(client: TestClient, session: Session) -> None:
    add_user(session, "ana@horizonte.com.br", active=False)
    assert_login_refused(login(client, "ana@horizonte.com.br"))


def test_missing_form_fields_are_422(client: TestClient) -> None:
    response = client.post("/api/auth/token", data={"username": "ana@horizonte.com.br"})
    assert response.status_code == 422


def test_me_requires_a_token(client: TestClient) -> None:
    response = client.get("/api/auth/me")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert client.get("/api/auth/me", headers=bearer("lixo.lixo")).status_code == 401
    assert client.get("/api/auth/me", headers={"Authorization": "Basic YTpi"}).status_code == 401


def test_deactivated_user_loses_access_with_a_valid_token(client: TestClient, session: Session) -> None:
    ana = add_user(session, "ana@horizonte.com.br")
    token = token_for(client, "ana@horizonte.com.br")
    ana.active = False
    session.commit()
    response = client.get("/api/auth/me", headers=bearer(token))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_token_expires(client: TestClient, session: Session, container: Container) -> None:
    add_user(session, "ana@horizonte.com.br")
    token = token_for(client, "ana@horizonte.com.br")
    clock = container.clock
    assert isinstance(clock, FixedClock)
    issued_at = clock.at
    clock.at = issued_at + timedelta(minutes=480) - timedelta(seconds=1)
    assert client.get("/api/auth/me", headers=bearer(token)).status_code == 200
    clock.at = issued_at + timedelta(minutes=480)
    assert client.get("/api/auth/me", headers=bearer(token)).status_code == 401


def test_token_signed_with_another_secret_is_refused(
    client: TestClient, session: Session, container: Container
) -> None:
    ana = add_user(session, "ana@horizonte.com.br", Role.ADMIN)
    forged = issue_token(
        ana.id, "admin", secret="not-the-server-secret", now=container.clock.now(), ttl=timedelta(hours=1)
    )
    assert client.get("/api/auth/me", headers=bearer(forged.access_token)).status_code == 401


def test_token_for_unknown_user_is_refused(
    client: TestClient, settings: Settings, container: Container
) -> None:
    issued = issue_token(
        999,
        "admin",
        secret=settings.secret_key.get_secret_value(),
        now=container.clock.now(),
        ttl=timedelta(hours=1),
    )
    assert client.get("/api/auth/me", headers=bearer(issued.access_token)).status_code == 401


def test_login_upgrades_an_outdated_hash(client: TestClient, session: Session) -> None:
    ana = add_user(session, "ana@horizonte.com.br")
    old_hash = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    ana.password_hash = old_hash
    session.commit()
    assert login(client, "ana@horizonte.com.br").status_code == 200
    session.expire_all()
    new_hash = session.scalars(select(User.password_hash).where(User.id == ana.id)).one()
    assert new_hash != old_hash
    check = verify_password(new_hash, PASSWORD)
    assert check.ok and not check.needs_rehash


# --- roles ------------------------------------------------------------------------------------


@pytest.fixture
def guarded_client(container: Container) -> Iterator[TestClient]:
    router = APIRouter(prefix="/api/test-only")

    @router.get("/admin")
    def admin_only(user: AdminUser) -> dict[str, str]:
        return {"email": user.email}

    @router.get("/staff")
    def staff_only(user: StaffUser) -> dict[str, str]:
        return {"email": user.email}

    app = create_app(container=container)
    app.include_router(router)
    with TestClient(app) as c:
        yield c


def test_roles(guarded_client: TestClient, session: Session) -> None:
    add_user(session, "admin@horizonte.com.br", Role.ADMIN)
    add_user(session, "ana@horizonte.com.br", Role.COLLECTOR)
    admin = bearer(token_for(guarded_client, "admin@horizonte.com.br"))
    collector = bearer(token_for(guarded_client, "ana@horizonte.com.br"))

    assert guarded_client.get("/api/test-only/admin", headers=admin).json() == {
        "email": "admin@horizonte.com.br"
    }
    assert guarded_client.get("/api/test-only/staff", headers=admin).status_code == 200
    assert guarded_client.get("/api/test-only/staff", headers=collector).status_code == 200
    denied = guarded_client.get("/api/test-only/admin", headers=collector)
    assert denied.status_code == 403
    assert denied.json() == {"detail": "permissão insuficiente"}
    assert guarded_client.get("/api/test-only/admin").status_code == 401
    assert guarded_client.get("/api/test-only/staff").status_code == 401


def test_role_is_read_from_the_database(guarded_client: TestClient, session: Session) -> None:
    ana = add_user(session, "ana@horizonte.com.br", Role.COLLECTOR)
    token = bearer(token_for(guarded_client, "ana@horizonte.com.br"))
    ana.role = Role.ADMIN
    session.commit()
    assert guarded_client.get("/api/test-only/admin", headers=token).status_code == 200


# --- service ----------------------------------------------------------------------------------


def test_create_user_normalizes_and_rejects(session: Session) -> None:
    user = create_user(session, " Ana@Horizonte.COM.br ", PASSWORD, "admin", name=" Ana ")
    session.commit()
    assert (user.email, user.name, user.role, user.active) == (
        "ana@horizonte.com.br",
        "Ana",
        Role.ADMIN,
        True,
    )
    assert PASSWORD not in user.password_hash

    with pytest.raises(UserError, match=re.escape("já existe um usuário com o e-mail ana@horizonte.com.br")):
        create_user(session, "ANA@horizonte.com.br", PASSWORD, Role.COLLECTOR)
    for bad in ["", "ana", "ana@", "@horizonte.com", "ana@horizonte", "ana maria@horizonte.com", "a@b@c.com"]:
        with pytest.raises(UserError, match="e-mail inválido"):
            create_user(session, bad, PASSWORD, Role.COLLECTOR)
    with pytest.raises(UserError, match="a senha deve ter pelo menos 10 caracteres"):
        create_user(session, "bia@horizonte.com.br", "curta", Role.COLLECTOR)
    with pytest.raises(UserError, match="papel inválido"):
        create_user(session, "bia@horizonte.com.br", PASSWORD, "gerente")


def test_authenticate(session: Session) -> None:
    add_user(session, "ana@horizonte.com.br")
    user = authenticate(session, "ana@horizonte.com.br", PASSWORD)
    assert user is not None and user.email == "ana@horizonte.com.br"
    assert authenticate(session, "ana@horizonte.com.br", "senha-errada-123") is None
    assert authenticate(session, "ninguem@horizonte.com.br", PASSWORD) is None


# --- CLI --------------------------------------------------------------------------------------


def run_cli(
    tmp_path: Path, database_url: str, *args: str, stdin: str = PASSWORD + "\n"
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "NEGOCIA_DATABASE_URL": database_url,
        "PYTHONPATH": str(REPO_ROOT),
        "PYTHONIOENCODING": "utf-8",
    }
    return subprocess.run(
        [sys.executable, "-m", "server.cli", "users", "create", *args],
        cwd=tmp_path,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )


def test_cli_creates_a_user_then_refuses_a_duplicate(
    tmp_path: Path, database_url: str, session: Session
) -> None:
    result = run_cli(tmp_path, database_url, "Ana@Horizonte.com.br", "--role", "admin", "--name", "Ana Souza")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Usuário ana@horizonte.com.br criado (administrador)."
    assert result.stderr == ""
    user = session.scalars(select(User)).one()
    assert (user.email, user.name, user.role, user.active) == (
        "ana@horizonte.com.br",
        "Ana Souza",
        Role.ADMIN,
        True,
    )
    assert authenticate(session, "ana@horizonte.com.br", PASSWORD) is not None

    again = run_cli(tmp_path, database_url, "ana@horizonte.com.br", "--role", "collector")
    assert again.returncode == 1
    assert again.stderr.strip() == "já existe um usuário com o e-mail ana@horizonte.com.br"
    assert again.stdout == ""


@pytest.mark.parametrize(
    ("email", "stdin", "message"),
    [
        ("ana@horizonte.com.br", "curta\n", "a senha deve ter pelo menos 10 caracteres"),
        ("ana@horizonte.com.br", "", "a senha deve ter pelo menos 10 caracteres"),
        ("ana.horizonte.com.br", PASSWORD + "\n", "e-mail inválido: ana.horizonte.com.br"),
    ],
)
def test_cli_refuses_bad_input(
    tmp_path: Path, database_url: str, session: Session, email: str, stdin: str, message: str
) -> None:
    result = run_cli(tmp_path, database_url, email, "--role", "collector", stdin=stdin)
    assert result.returncode == 1
    assert result.stderr.strip() == message
    assert session.scalars(select(User)).all() == []


def test_cli_needs_a_migrated_database(tmp_path: Path) -> None:
    result = run_cli(
        tmp_path, f"sqlite:///{tmp_path / 'vazio.db'}", "ana@horizonte.com.br", "--role", "admin"
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "banco não inicializado: rode `negocia db upgrade`"


def test_cli_rejects_unknown_role(tmp_path: Path) -> None:
    result = run_cli(
        tmp_path, f"sqlite:///{tmp_path / 'vazio.db'}", "ana@horizonte.com.br", "--role", "gerente"
    )
    assert result.returncode == 2
    assert "invalid choice" in result.stderr or "escolha inválida" in result.stderr


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def interactive(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str) -> Iterator[list[str]]:
    """Runs the CLI in-process as if typed at a terminal; returns the list getpass answers from."""
    answers: list[str] = []
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NEGOCIA_DATABASE_URL", database_url)
    monkeypatch.setattr(sys, "stdin", FakeTty())
    monkeypatch.setattr(cli.getpass, "getpass", lambda prompt="": answers.pop(0))
    get_settings.cache_clear()
    yield answers
    get_settings.cache_clear()


def test_cli_prompts_twice(
    interactive: list[str], session: Session, capsys: pytest.CaptureFixture[str]
) -> None:
    interactive.extend([PASSWORD, PASSWORD])
    assert cli.main(["users", "create", "bia@horizonte.com.br", "--role", "collector"]) == 0
    assert capsys.readouterr().out.strip() == "Usuário bia@horizonte.com.br criado (cobrador)."
    assert authenticate(session, "bia@horizonte.com.br", PASSWORD) is not None


def test_cli_refuses_mismatched_passwords(
    interactive: list[str], session: Session, capsys: pytest.CaptureFixture[str]
) -> None:
    interactive.extend([PASSWORD, PASSWORD + "!"])
    assert cli.main(["users", "create", "bia@horizonte.com.br", "--role", "collector"]) == 1
    assert capsys.readouterr().err.strip() == "as senhas não conferem"
    assert session.scalars(select(User)).all() == []
