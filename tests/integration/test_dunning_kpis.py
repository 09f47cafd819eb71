"""Dunning KPIs in GET /api/kpis and on the /admin dashboard, against hand-computed figures
(SQLite and PostgreSQL). Period 2026-11-01..2026-11-22 (today, São Paulo).

reminders              contact (segment)   status   when (due / sent)   message status
  R1 fatura_d-3        Ana (varejo)        sent     sent 11-05          delivered
  R2 fatura_d0         Ana (varejo)        sent     sent 11-08          read
  R3 fatura_d-3        Bia (serviços)      sent     sent 11-10          sent
  R4 fatura_d+1        Bia (serviços)      sent     sent 10-30          delivered   (before the period)
  R5 fatura_d+7        Bia (serviços)      failed   due 11-17           failed      (not sent)
  R6 fatura_d+1        Ana (varejo)        skipped  due 11-12, opted_out
  R7 fatura_d+7        Bia (serviços)      skipped  due 11-20, paid
  R8 fatura_d+15       Bia (serviços)      skipped  due 11-28, paid                 (after the period)
sent in the period: R1, R2, R3 = 3; per step fatura_d-3 2, fatura_d0 1;
by message status delivered 1, read 1, sent 1; skipped opted_out 1, paid 1.
varejo: sent 2 (fatura_d-3 1, fatura_d0 1), skipped opted_out 1.

agreements             debtor     created   status
  AgA                  Mercado    11-03     active
  AgB                  Tech       11-06     broken
  AgC                  Tech       11-15     broken
  AgD                  Mercado    11-16     cancelled  (not counted)
  AgE                  Tech       10-20     broken     (before the period)
broken: 2 of 3 = 66.67 %; varejo 0 of 1 = 0.00 %.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from server.db.models import (
    Agreement,
    AgreementStatus,
    Author,
    Channel,
    Contact,
    Conversation,
    Debtor,
    Direction,
    Message,
    Role,
    ScheduledReminder,
)
from server.services.creditor import get_or_create_creditor
from server.services.users import create_user
from server.settings import Settings

PASSWORD = "senha-muito-secreta"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def at(day: str) -> datetime:
    return datetime.fromisoformat(f"{day}T15:00:00+00:00").astimezone(UTC)


@pytest.fixture
def dunning_portfolio(session: Session, settings: Settings) -> None:
    creditor = get_or_create_creditor(session, settings)
    mercado = Debtor(creditor_id=creditor.id, cnpj="12345678000195", cnpj_root="12345678",
                     legal_name="Mercado Bom Preço Ltda", segment="varejo")  # fmt: skip
    tech = Debtor(creditor_id=creditor.id, cnpj="11222333000181", cnpj_root="11222333",
                  legal_name="Tech Nova Sistemas Ltda", segment="serviços")  # fmt: skip
    session.add_all([mercado, tech])
    session.flush()
    ana = Contact(debtor_id=mercado.id, name="Ana", phone_e164="+5531991234567")
    bia = Contact(debtor_id=tech.id, name="Bia", phone_e164="+5548996665555")
    session.add_all([ana, bia])
    session.flush()
    conversations = {}
    for contact in (ana, bia):
        c = Conversation(channel=Channel.WHATSAPP, address=contact.phone_e164 or "")
        session.add(c)
        session.flush()
        conversations[contact.id] = c

    def reminder(n: int, contact: Contact, step: str, status: str, day: str, message_status: str | None,
                 reason: str | None = None) -> None:  # fmt: skip
        message_id = None
        if message_status is not None:
            m = Message(conversation_id=conversations[contact.id].id, direction=Direction.OUTBOUND,
                        author=Author.SYSTEM, text="…", status=message_status, created_at=at(day),
                        payload={"reminder": f"inv:{n}:{step}:{contact.id}"})  # fmt: skip
            session.add(m)
            session.flush()
            message_id = m.id
        session.add(ScheduledReminder(
            idempotency_key=f"inv:{n}:{step}:{contact.id}", target="invoice", contact_id=contact.id, step_id=step,
            due_at=at(day), status=status, reason=reason, message_id=message_id,
            sent_at=at(day) if status == "sent" else None, claimed_at=at(day),
        ))  # fmt: skip

    reminder(1, ana, "fatura_d-3", "sent", "2026-11-05", "delivered", "template")
    reminder(2, ana, "fatura_d0", "sent", "2026-11-08", "read", "text")
    reminder(3, bia, "fatura_d-3", "sent", "2026-11-10", "sent", "template")
    reminder(4, bia, "fatura_d+1", "sent", "2026-10-30", "delivered", "template")
    reminder(5, bia, "fatura_d+7", "failed", "2026-11-17", "failed", "63016")
    reminder(6, ana, "fatura_d+1", "skipped", "2026-11-12", None, "opted_out")
    reminder(7, bia, "fatura_d+7", "skipped", "2026-11-20", None, "paid")
    reminder(8, bia, "fatura_d+15", "skipped", "2026-11-28", None, "paid")

    def agreement(debtor: Debtor, day: str, status: AgreementStatus) -> None:
        session.add(Agreement(
            debtor_id=debtor.id, option="plan:2", original_total=Decimal("100.00"), updated_total=Decimal("100.00"),
            discount_amount=Decimal("0.00"), agreed_total=Decimal("100.00"), down_payment=Decimal("0.00"),
            monthly_interest_pct=Decimal("0"), terms_sha256="0" * 64, status=status, created_at=at(day),
            accepted_at=at(day),
        ))  # fmt: skip

    agreement(mercado, "2026-11-03", AgreementStatus.ACTIVE)
    agreement(tech, "2026-11-06", AgreementStatus.BROKEN)
    agreement(tech, "2026-11-15", AgreementStatus.BROKEN)
    agreement(mercado, "2026-11-16", AgreementStatus.CANCELLED)
    agreement(tech, "2026-10-20", AgreementStatus.BROKEN)
    create_user(session, "admin@example.com", PASSWORD, Role.ADMIN)
    session.commit()


def bearer(client: TestClient) -> dict[str, str]:
    r = client.post("/api/auth/token", data={"username": "admin@example.com", "password": PASSWORD})
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_dunning_figures_in_the_kpi_api(client: TestClient, dunning_portfolio: None) -> None:
    headers = bearer(client)
    whole = client.get("/api/kpis?start=2026-11-01&end=2026-11-22", headers=headers).json()["dunning"]
    assert whole == {
        "reminders_sent": 3,
        "by_step": [{"step": "fatura_d-3", "count": 2}, {"step": "fatura_d0", "count": 1}],
        "messages_by_status": [
            {"status": "delivered", "count": 1},
            {"status": "read", "count": 1},
            {"status": "sent", "count": 1},
        ],
        "skipped_by_reason": [{"reason": "opted_out", "count": 1}, {"reason": "paid", "count": 1}],
        "broken_agreements": {"count": 2, "of": 3, "rate_pct": "66.67"},
    }
    varejo = client.get("/api/kpis?start=2026-11-01&end=2026-11-22&segment=varejo", headers=headers).json()[
        "dunning"
    ]
    assert varejo == {
        "reminders_sent": 2,
        "by_step": [{"step": "fatura_d-3", "count": 1}, {"step": "fatura_d0", "count": 1}],
        "messages_by_status": [{"status": "delivered", "count": 1}, {"status": "read", "count": 1}],
        "skipped_by_reason": [{"reason": "opted_out", "count": 1}],
        "broken_agreements": {"count": 0, "of": 1, "rate_pct": "0.00"},
    }
    csv = client.get("/api/kpis/export.csv?start=2026-11-01&end=2026-11-22", headers=headers).text
    assert "lembretes_enviados;;3" in csv and "lembretes_etapa;fatura_d-3;2" in csv
    assert "acordos_rompidos;;2" in csv and "acordos_rompidos_pct;;66.67" in csv


def test_dunning_figures_on_the_admin_dashboard(client: TestClient, dunning_portfolio: None) -> None:
    page = client.get("/console/login")
    token = CSRF.search(page.text)
    assert token is not None
    r = client.post("/console/login", data={"email": "admin@example.com", "password": PASSWORD,
                                            "csrf_token": token.group(1)}, follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    html = client.get("/admin?start=2026-11-01&end=2026-11-22").text
    assert re.search(r'data-kpi="reminders">3<', html)
    assert re.search(r'data-kpi="broken">2<', html)
    assert "66,67 % dos 3 acordos do período" in html
    assert "<td>fatura_d-3</td><td>2</td>" in html and "<td>lida</td><td>1</td>" in html
    assert "<td>pediu para não receber</td><td>1</td>" in html
    assert "Lembretes enviados, por etapa" in html  # the chart
