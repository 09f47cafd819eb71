"""Admin API: role checks, settings validation (422 with field errors, nothing saved), policy
versions with diff and rollback, side-by-side preview, users, KPI CSV export — all audited."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import AppSetting, AuditEntry, Creditor, PolicyVersion, Role
from server.domain.policy import DEFAULT_POLICY, policy_to_dict
from server.services.users import create_user

PASSWORD = "senha-muito-secreta"


@pytest.fixture
def staff(session: Session) -> dict[str, int]:
    admin = create_user(session, "admin@example.com", PASSWORD, Role.ADMIN, "Alice Admin")
    collector = create_user(session, "cobra@example.com", PASSWORD, Role.COLLECTOR, "Caio Cobrador")
    session.commit()
    return {"admin": admin.id, "collector": collector.id}


def token(client: TestClient, email: str, password: str = PASSWORD) -> dict[str, str]:
    r = client.post("/api/auth/token", data={"username": email, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.fixture
def admin(client: TestClient, staff: dict[str, int]) -> dict[str, str]:
    return token(client, "admin@example.com")


@pytest.fixture
def collector(client: TestClient, staff: dict[str, int]) -> dict[str, str]:
    return token(client, "cobra@example.com")


def actions(session: Session) -> list[str]:
    session.expire_all()
    return [e.action for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


ADMIN_ROUTES = [
    ("GET", "/api/kpis", None),
    ("GET", "/api/kpis/export.csv", None),
    ("GET", "/api/settings", None),
    ("PUT", "/api/settings/late_charges", {"late_fee_pct": "2", "monthly_interest_pct": "1"}),
    ("GET", "/api/users", None),
    ("POST", "/api/users", {"email": "x@example.com", "role": "admin", "password": "senha-longa-123"}),
    ("POST", "/api/policy/versions/1/rollback", None),
    ("PUT", "/api/policy", policy_to_dict(DEFAULT_POLICY)),
]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ROUTES)
def test_collectors_get_403_on_admin_routes(
    client: TestClient, collector: dict[str, str], method: str, path: str, body: object
) -> None:
    r = client.request(method, path, json=body, headers=collector)
    assert r.status_code == 403, r.text


def test_invalid_creditor_settings_are_refused_field_by_field_and_nothing_is_saved(
    client: TestClient, admin: dict[str, str], session: Session
) -> None:
    before = client.get("/api/settings", headers=admin).json()["creditor"]
    r = client.put("/api/settings/creditor", headers=admin, json={
        **before, "cnpj": "33.445.566/0001-87", "merchant_name": "Horizonte Distribuidora de Alimentos",
        "merchant_city": "São Paulo", "pix_key": "não é chave",
    })  # fmt: skip
    assert r.status_code == 422
    errors = {e["field"]: e["message"] for e in r.json()["detail"]}
    assert errors["cnpj"] == "dígitos verificadores do CNPJ não conferem"
    assert errors["merchant_name"] == "no máximo 25 caracteres (tem 36)"
    assert "ASCII" in errors["merchant_city"]
    assert "chave PIX" in errors["pix_key"]
    assert session.scalars(select(AppSetting)).all() == []
    assert client.get("/api/settings", headers=admin).json()["creditor"] == before
    assert "set_creditor" not in actions(session)


def test_valid_creditor_identity_is_saved_used_and_audited(
    client: TestClient, admin: dict[str, str], session: Session
) -> None:
    body = {
        "legal_name": "Nova Razão Comercial Ltda", "trade_name": "Nova Razão", "cnpj": "11.222.333/0001-81",
        "address": "Rua A, 1, Centro, Curitiba - PR", "pix_key": "financeiro@novarazao.com.br",
        "merchant_name": "NOVA RAZAO", "merchant_city": "CURITIBA",
    }  # fmt: skip
    r = client.put("/api/settings/creditor", headers=admin, json=body)
    assert r.status_code == 200, r.text
    assert r.json()["cnpj"] == "11222333000181"
    session.expire_all()
    [creditor] = session.scalars(select(Creditor)).all()
    assert (creditor.legal_name, creditor.cnpj) == ("Nova Razão Comercial Ltda", "11222333000181")
    assert "set_creditor" in actions(session)


def test_hours_and_charges_validation(client: TestClient, admin: dict[str, str], session: Session) -> None:
    r = client.put("/api/settings/working_hours", headers=admin,
                   json={"seg": {"open": "18:00", "close": "08:00"}, "ter": {"open": "8h", "close": "17:00"}})  # fmt: skip
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["detail"]} == {"seg.close", "ter.open"}
    r = client.put(
        "/api/settings/late_charges", headers=admin, json={"late_fee_pct": "5", "monthly_interest_pct": "x"}
    )
    assert r.status_code == 422
    errors = {e["field"]: e["message"] for e in r.json()["detail"]}
    assert errors == {"late_fee_pct": "a multa deve estar entre 0 e 2 % (CDC art. 52)",
                      "monthly_interest_pct": "número inválido"}  # fmt: skip
    session.expire_all()
    assert session.scalars(select(AppSetting)).all() == []

    r = client.put("/api/settings/contact_hours", headers=admin,
                   json={"seg": {"open": "09:00", "close": "17:30"}, "sab": {"open": "09:00", "close": "12:00"}})  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["seg"] == {"open": "09:00", "close": "17:30"} and r.json()["dom"] == {
        "open": "",
        "close": "",
    }
    r = client.put(
        "/api/settings/late_charges",
        headers=admin,
        json={"late_fee_pct": "1.5", "monthly_interest_pct": "0.8"},
    )
    assert r.status_code == 200
    session.expire_all()
    [creditor] = session.scalars(select(Creditor)).all()
    assert (creditor.late_fee_pct, creditor.monthly_interest_pct) == (Decimal("1.5"), Decimal("0.8"))
    assert actions(session)[-2:] == ["set_contact_hours", "set_late_charges"]


def test_publish_records_who_and_diff_and_rollback_is_a_new_version(
    client: TestClient, admin: dict[str, str], staff: dict[str, int], session: Session
) -> None:
    draft = policy_to_dict(DEFAULT_POLICY)
    draft["rules"][1]["max_cash_discount_pct"] = "12"
    r = client.put("/api/policy", headers=admin, json=draft)
    assert r.status_code == 200, r.text
    v2 = r.json()
    assert v2["version"] == 2 and v2["created_by"] == "admin@example.com"
    assert v2["diff"] == [{"path": "rules[1].max_cash_discount_pct", "old": "10", "new": "12"}]

    r = client.post("/api/policy/versions/1/rollback", headers=admin)
    assert r.status_code == 200, r.text
    v3 = r.json()
    assert v3["version"] == 3 and v3["restored_from"] == 1
    assert v3["diff"] == [{"path": "rules[1].max_cash_discount_pct", "old": "12", "new": "10"}]
    assert client.post("/api/policy/versions/99/rollback", headers=admin).status_code == 404
    assert [v.version for v in session.scalars(select(PolicyVersion))] == [1, 2, 3]
    assert actions(session)[-2:] == ["policy_publish", "policy_rollback"]


def test_preview_shows_the_draft_beside_the_active_version(
    client: TestClient, admin: dict[str, str], portfolio: dict[str, int]
) -> None:
    draft = policy_to_dict(DEFAULT_POLICY)
    draft["rules"][0]["max_cash_discount_pct"] = "8"
    r = client.post("/api/policy/preview", headers=admin,
                    json={"amount": "1000.00", "days_overdue": 20, "policy": draft})  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    assert [s["cash"]["discount_pct"] for s in body["steps"]] == ["4.00", "6.00", "8.00"]
    assert body["active"]["version"] == 1
    assert [s["cash"]["discount_pct"] for s in body["active"]["steps"]] == ["2.50", "3.75", "5.00"]

    # A debtor's own overdue invoices: Mercado's NF-1 (2 350,00, 20 days late on 2026-11-22).
    r = client.post("/api/policy/preview", headers=admin, json={"debtor_id": portfolio["mercado"]})
    assert r.status_code == 200, r.text
    assert r.json()["debt"]["days_overdue"] == 20 and r.json()["debt"]["debtor"] == "Mercado Bom Preço Ltda"
    assert r.json()["rule"]["max_days"] == 30
    r = client.post("/api/policy/preview", headers=admin, json={"debtor_id": 999999})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "debtor_id"
    r = client.post("/api/policy/preview", headers=admin, json={"amount": "10.00"})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "days_overdue"


def test_users_create_disable_and_reset_password(
    client: TestClient, admin: dict[str, str], staff: dict[str, int], session: Session
) -> None:
    r = client.post("/api/users", headers=admin,
                    json={"email": "Nova@Example.com", "name": "Nova", "role": "collector", "password": "curta"})  # fmt: skip
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "password"
    r = client.post("/api/users", headers=admin,
                    json={"email": "Nova@Example.com", "name": "Nova", "role": "collector", "password": "senha-inicial-1"})  # fmt: skip
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["email"] == "nova@example.com" and new["role"] == "collector"
    token(client, "nova@example.com", "senha-inicial-1")

    assert (
        client.post(
            f"/api/users/{new['id']}/password", headers=admin, json={"password": "outra-senha-2"}
        ).status_code
        == 200
    )
    assert (
        client.post(
            "/api/auth/token", data={"username": "nova@example.com", "password": "senha-inicial-1"}
        ).status_code
        == 401
    )
    nova = token(client, "nova@example.com", "outra-senha-2")

    assert client.post(f"/api/users/{new['id']}/disable", headers=admin).json()["active"] is False
    assert client.get("/api/auth/me", headers=nova).status_code == 401  # the open session ends too
    assert (
        client.post(
            "/api/auth/token", data={"username": "nova@example.com", "password": "outra-senha-2"}
        ).status_code
        == 401
    )
    r = client.post(f"/api/users/{staff['admin']}/disable", headers=admin)
    assert r.status_code == 422 and "própria conta" in r.json()["detail"][0]["message"]
    assert client.post(f"/api/users/{new['id']}/enable", headers=admin).json()["active"] is True
    log = actions(session)
    assert [
        a for a in log if a in {"create_user", "reset_password", "disable_user", "login", "login_failed"}
    ][1:7] == ["create_user", "login", "reset_password", "login_failed", "login", "disable_user"]
    assert log[-1] == "enable_user"


def test_kpi_csv_export_is_audited(client: TestClient, admin: dict[str, str], session: Session) -> None:
    r = client.get("/api/kpis/export.csv", headers=admin, params={"start": "2026-11-01", "end": "2026-11-22"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert 'filename="kpis-2026-11-01-2026-11-22.csv"' in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.text.lstrip("\ufeff")), delimiter=";"))
    assert rows[0] == ["indicador", "detalhe", "valor"]
    assert rows[1] == ["periodo", "2026-11-01..2026-11-22", "todos"]
    assert ["acordos", "", "0"] in rows
    assert sum(1 for row in rows if row[0] == "acordos_dia") == 22
    [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "export_kpis")).all()
    assert entry.details == {"start": "2026-11-01", "end": "2026-11-22", "segment": ""}
    bad = client.get("/api/kpis", headers=admin, params={"start": "2026-11-22", "end": "2026-11-01"})
    assert bad.status_code == 422
