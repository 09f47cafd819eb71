"""The /admin pages: admin-only, CSRF on every form, field-level errors in the policy table and
the settings forms (nothing saved), publish and rollback, users, audit log, CSV export."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import AppSetting, AuditEntry, PolicyVersion, Role
from server.domain.policy import DEFAULT_POLICY, policy_to_dict
from server.services.users import create_user

PASSWORD = "senha-muito-secreta"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def staff(session: Session) -> None:
    create_user(session, "admin@example.com", PASSWORD, Role.ADMIN)
    create_user(session, "cobra@example.com", PASSWORD, Role.COLLECTOR)
    session.commit()


def login(client: TestClient, email: str) -> str:
    page = client.get("/console/login")
    token = CSRF.search(page.text)
    assert token is not None
    r = client.post("/console/login", data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    found = CSRF.search(client.get("/console").text)
    assert found is not None
    return found.group(1)


def policy_form(csrf: str, **changes: str) -> dict[str, str]:
    data = policy_to_dict(DEFAULT_POLICY)
    form = {
        "csrf_token": csrf,
        "rows": str(len(data["rules"])),
        "steps": str(len(data["ladder"])),
        "notes": "",
    }
    for i, rule in enumerate(data["rules"]):
        for name, value in rule.items():
            form[f"r{i}.{name}"] = "" if value is None else str(value)
    for j, step in enumerate(data["ladder"]):
        for name, value in step.items():
            form[f"l{j}.{name}"] = str(value)
    form.update(changes)
    return form


def test_admin_pages_need_an_admin(client: TestClient, staff: None) -> None:
    assert client.get("/admin", follow_redirects=False).headers["location"] == "/console/login"
    login(client, "cobra@example.com")
    for path in (
        "/admin",
        "/admin/policy",
        "/admin/settings",
        "/admin/users",
        "/admin/audit",
        "/admin/kpis.csv",
    ):
        assert client.get(path).status_code == 403, path


def test_policy_table_errors_publish_and_rollback(client: TestClient, staff: None, session: Session) -> None:
    csrf = login(client, "admin@example.com")
    page = client.get("/admin/policy")
    assert (
        page.status_code == 200
        and "Política de ofertas" in page.text
        and 'id="active-version">v1<' in page.text
    )

    assert client.post("/admin/policy", data=policy_form("wrong", action="publish")).status_code == 403
    r = client.post("/admin/policy", data=policy_form(csrf, action="publish", **{
        "r1.max_cash_discount_pct": "150", "r2.max_installments": "dez", "l2.discount_fraction": "0.9",
    }))  # fmt: skip
    assert r.status_code == 422
    assert 'data-field="r2.max_installments">número inteiro<' in r.text
    r = client.post("/admin/policy", data=policy_form(csrf, action="publish", **{
        "r1.max_cash_discount_pct": "150", "l2.discount_fraction": "0.9",
    }))  # fmt: skip
    assert 'data-field="r1.max_cash_discount_pct">não pode passar de 100 %<' in r.text
    assert 'data-field="l2">o último degrau deve chegar aos limites (frações 1)<' in r.text
    assert 'value="150"' in r.text  # the admin's input is kept
    assert [v.version for v in session.scalars(select(PolicyVersion))] == [1]

    r = client.post("/admin/policy", data=policy_form(csrf, action="preview", amount="1.000,00", days_overdue="40",
                                                      **{"r1.max_cash_discount_pct": "20"}))  # fmt: skip
    assert r.status_code == 200
    assert 'data-ladder="Rascunho"' in r.text and 'data-ladder="Em vigor (v1)"' in r.text
    assert "desconto 10,00 %" in r.text and "desconto 5,00 %" in r.text

    r = client.post("/admin/policy", data=policy_form(csrf, action="publish", **{"r1.max_cash_discount_pct": "20"}),
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303 and r.headers["location"] == "/admin/policy?notice=published-2"
    page = client.get(r.headers["location"]).text
    assert "Versão 2 publicada" in page and "admin@example.com" in page
    assert "rules[1].max_cash_discount_pct" in page

    r = client.post("/admin/policy/versions/1/rollback", data={"csrf_token": csrf})
    assert r.status_code == 200 and "Versão 1 restaurada como a nova versão 3" in r.text
    session.expire_all()
    assert [(v.version, v.restored_from) for v in session.scalars(select(PolicyVersion))] == [
        (1, None),
        (2, None),
        (3, 1),
    ]


def test_settings_forms_validate_and_save(client: TestClient, staff: None, session: Session) -> None:
    csrf = login(client, "admin@example.com")
    assert client.get("/admin/settings").status_code == 200
    r = client.post("/admin/settings/creditor", data={
        "csrf_token": csrf, "legal_name": "X Ltda", "trade_name": "X", "cnpj": "11.222.333/0001-80",
        "address": "Rua 1", "pix_key": "x@example.com", "merchant_name": "X", "merchant_city": "Cidade Muito Comprida",
    })  # fmt: skip
    assert r.status_code == 422
    assert 'data-field="creditor.cnpj">dígitos verificadores do CNPJ não conferem<' in r.text
    assert 'data-field="creditor.merchant_city">no máximo 15 caracteres (tem 21)<' in r.text
    r = client.post(
        "/admin/settings/working_hours", data={"csrf_token": csrf, "seg.open": "25:00", "seg.close": "18:00"}
    )
    assert (
        r.status_code == 422 and 'data-field="working_hours.seg.open">horário inválido (use HH:MM)<' in r.text
    )
    r = client.post("/admin/settings/authority", data={"csrf_token": csrf, "max_discount_pct": "120",
                    "max_installments": "24", "min_installment_amount": "50", "min_down_payment_pct": "0",
                    "monthly_interest_pct": "1", "max_first_due_days": "30", "limit_amount": "abc"})  # fmt: skip
    assert r.status_code == 422 and 'data-field="authority.limit_amount">número inválido<' in r.text
    assert session.scalars(select(AppSetting)).all() == []

    r = client.post("/admin/settings/working_hours", data={
        "csrf_token": csrf, **{f"{d}.open": "09:00" for d in ("seg", "ter", "qua", "qui", "sex")},
        **{f"{d}.close": "17:00" for d in ("seg", "ter", "qua", "qui", "sex")},
    }, follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    session.expire_all()
    [row] = session.scalars(select(AppSetting)).all()
    assert row.key == "working_hours" and row.value["seg"] == {"open": "09:00", "close": "17:00"}
    assert row.value["sab"] == {"open": "", "close": ""}


def test_users_page_and_audit_log(client: TestClient, staff: None, session: Session) -> None:
    csrf = login(client, "admin@example.com")
    r = client.post("/admin/users", data={"csrf_token": csrf, "email": "novo@example.com", "name": "Novo",
                                          "role": "collector", "password": "senha-do-novo-1"}, follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    r = client.post("/admin/users", data={"csrf_token": csrf, "email": "novo@example.com", "role": "collector",
                                          "password": "senha-do-novo-1"})  # fmt: skip
    assert r.status_code == 422 and "já existe um usuário" in r.text
    assert client.get("/admin/kpis.csv").text.lstrip("\ufeff").startswith("indicador;detalhe;valor")
    log = client.get("/admin/audit").text
    for action in ("login", "create_user", "export_kpis"):
        assert f'data-action="{action}"' in log
    logins = client.get("/admin/audit?group=logins").text
    assert 'data-action="login"' in logins and 'data-action="create_user"' not in logins
    assert (
        session.scalars(select(AuditEntry).where(AuditEntry.action == "export_kpis")).one().user_id
        is not None
    )
    dashboard = client.get("/admin")
    assert dashboard.status_code == 200 and dashboard.text.count("<svg") == 4
