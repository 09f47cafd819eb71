"""KPI figures against a hand-computed fixture portfolio (SQLite and PostgreSQL).

Period 2026-11-01..2026-11-22, today 2026-11-22 (São Paulo). The portfolio:

invoices                     principal  due         status        days overdue on 11-22
  Mercado (varejo)  NF-A1     1000.00   2026-10-23  open          30
                    NF-A2      500.00   2026-11-12  open          10
                    NF-A3     2000.00   2026-10-01  renegotiated  -
  Tech (serviços)   NF-B1     3000.00   2026-09-23  open          60
                    NF-B2      400.00   2026-12-10  open          not yet due
overdue by 11-22: 1000 + 500 + 2000 + 3000 = 6500.00 (varejo 3500.00)
average days overdue (open, past due): (30 + 10 + 60) / 3 = 33.3 (varejo 20.0)

agreements                   created (local)     agreed   installments (due → paid)
  AgA Mercado, conv A        11-05 10:00         1800.00  600 11-05→11-05 (on time), 600 11-15→11-17 (late),
                                                          600 11-25 open (not yet due)
  AgB Tech, conv B           11-19 23:30 (UTC 20th) 2500.00  2500 11-20 open (broken promise)
  AgC Tech (October)         10-30               100.00   100 10-31→10-31 (outside the period)
recovered in the period: 600 + 600 = 1200.00 → 1200/6500 = 18.46 % (varejo 1200/3500 = 34.29 %)
promises due in the period and past: 3, kept 1 → 33.33 % (varejo 1/2 = 50 %)

conversations (first inbound)   agreement  handoff (reason, collector's first reply)
  A (Mercado) 11-05             AgA        -
  B (Tech)    11-19             AgB        -
  C (Tech)    11-10             -          dispute, replied after 30 min
  D (unknown number) 11-12      -          identity_failed, never replied
  E (Mercado) 10-20 (before)    -          request_human on 11-03, replied after 10 min
started in the period: A, B, C, D = 4; with agreement 2 → 50 %; handoffs 3 → 75 %
messages in the period: received A, B, C, D, E(11-03) = 5; sent: bot→A, collector→C, collector→E = 3
first response: (30 + 10) / 2 = 20.0 min, median 20.0, 1 unanswered
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from server.db.models import (
    Agreement,
    AgreementInstallment,
    AgreementStatus,
    Author,
    Channel,
    Contact,
    Conversation,
    Debtor,
    Direction,
    Handoff,
    InstallmentStatus,
    Invoice,
    InvoiceStatus,
    Message,
    Role,
)
from server.domain.kpis import Period
from server.services.creditor import get_or_create_creditor
from server.services.kpis import kpi_report
from server.services.users import create_user
from server.settings import Settings

PERIOD = Period(date(2026, 11, 1), date(2026, 11, 22))
TODAY = date(2026, 11, 22)


def at(day: str, hm: str = "12:00") -> datetime:
    return datetime.fromisoformat(f"{day}T{hm}:00+00:00").astimezone(UTC)


@pytest.fixture
def fixture_portfolio(session: Session, settings: Settings) -> None:
    creditor = get_or_create_creditor(session, settings)
    mercado = Debtor(creditor_id=creditor.id, cnpj="12345678000195", cnpj_root="12345678",
                     legal_name="Mercado Bom Preço Ltda", segment="varejo")  # fmt: skip
    tech = Debtor(creditor_id=creditor.id, cnpj="11222333000181", cnpj_root="11222333",
                  legal_name="Tech Nova Sistemas Ltda", segment="serviços")  # fmt: skip
    session.add_all([mercado, tech])
    session.flush()

    def invoice(debtor: Debtor, number: str, principal: str, due: date, status: InvoiceStatus) -> None:
        session.add(Invoice(creditor_id=creditor.id, debtor_id=debtor.id, number=number, issue_date=date(2026, 8, 1),
                            due_date=due, principal=Decimal(principal), status=status))  # fmt: skip

    invoice(mercado, "NF-A1", "1000.00", date(2026, 10, 23), InvoiceStatus.OPEN)
    invoice(mercado, "NF-A2", "500.00", date(2026, 11, 12), InvoiceStatus.OPEN)
    invoice(mercado, "NF-A3", "2000.00", date(2026, 10, 1), InvoiceStatus.RENEGOTIATED)
    invoice(tech, "NF-B1", "3000.00", date(2026, 9, 23), InvoiceStatus.OPEN)
    invoice(tech, "NF-B2", "400.00", date(2026, 12, 10), InvoiceStatus.OPEN)

    ana = Contact(debtor_id=mercado.id, name="Ana", phone_e164="+5531991234567")
    bia = Contact(debtor_id=tech.id, name="Bia", phone_e164="+5548996665555")
    caio = Contact(debtor_id=tech.id, name="Caio", phone_e164="+5548996660000")
    session.add_all([ana, bia, caio])
    session.flush()

    def conversation(address: str, contact: Contact | None) -> Conversation:
        c = Conversation(channel=Channel.SANDBOX, address=address, contact_id=contact.id if contact else None)
        session.add(c)
        session.flush()
        return c

    conv_a, conv_b = conversation("+5531991234567", ana), conversation("+5548996665555", bia)
    conv_c, conv_d = conversation("+5548996660000", caio), conversation("+5511900000000", None)
    conv_e = conversation("+5531991234568", ana)

    def message(c: Conversation, when: datetime, author: Author) -> None:
        direction = Direction.INBOUND if author == Author.CONTACT else Direction.OUTBOUND
        session.add(
            Message(conversation_id=c.id, direction=direction, author=author, text="…", created_at=when)
        )

    message(conv_a, at("2026-11-05"), Author.CONTACT)
    message(conv_a, at("2026-11-05", "12:01"), Author.BOT)
    message(conv_b, at("2026-11-19", "20:00"), Author.CONTACT)
    message(conv_c, at("2026-11-10"), Author.CONTACT)
    message(conv_c, at("2026-11-10", "12:35"), Author.COLLECTOR)
    message(conv_d, at("2026-11-12", "09:00"), Author.CONTACT)
    message(conv_e, at("2026-10-20"), Author.CONTACT)
    message(conv_e, at("2026-10-20", "12:01"), Author.BOT)
    message(conv_e, at("2026-11-03", "08:50"), Author.CONTACT)
    message(conv_e, at("2026-11-03", "09:10"), Author.COLLECTOR)
    session.add_all([
        Handoff(conversation_id=conv_c.id, reason="dispute", created_at=at("2026-11-10", "12:05")),
        Handoff(conversation_id=conv_d.id, reason="identity_failed", created_at=at("2026-11-12", "10:00")),
        Handoff(conversation_id=conv_e.id, reason="request_human", created_at=at("2026-11-03", "09:00")),
    ])  # fmt: skip

    def agreement(
        debtor: Debtor, conv: Conversation | None, created: datetime, total: str, n: int
    ) -> Agreement:
        a = Agreement(debtor_id=debtor.id, option="plan-1", status=AgreementStatus.ACTIVE,
                      original_total=Decimal(total), updated_total=Decimal(total), discount_amount=Decimal("0.00"),
                      agreed_total=Decimal(total), down_payment=Decimal("0.00"), monthly_interest_pct=Decimal("0"),
                      conversation_id=conv.id if conv else None, accepted_at=created, created_at=created,
                      terms_sha256="0" * 64)  # fmt: skip
        session.add(a)
        session.flush()
        return a

    def installment(a: Agreement, number: int, amount: str, due: date, paid: datetime | None) -> None:
        session.add(AgreementInstallment(
            agreement_id=a.id, number=number, due_date=due, amount=Decimal(amount), txid=f"T{a.id}P{number}",
            pix_code="000201", status=InstallmentStatus.PAID if paid else InstallmentStatus.OPEN, paid_at=paid,
            paid_amount=Decimal(amount) if paid else None,
        ))  # fmt: skip

    ag_a = agreement(mercado, conv_a, at("2026-11-05", "13:00"), "1800.00", 3)
    installment(ag_a, 0, "600.00", date(2026, 11, 5), at("2026-11-05", "14:00"))
    installment(ag_a, 1, "600.00", date(2026, 11, 15), at("2026-11-17"))
    installment(ag_a, 2, "600.00", date(2026, 11, 25), None)
    ag_b = agreement(tech, conv_b, at("2026-11-20", "02:30"), "2500.00", 1)  # 23:30 on the 19th in São Paulo
    installment(ag_b, 0, "2500.00", date(2026, 11, 20), None)
    ag_c = agreement(tech, None, at("2026-10-30"), "100.00", 1)
    installment(ag_c, 0, "100.00", date(2026, 10, 31), at("2026-10-31"))
    session.commit()


def test_figures_for_the_whole_portfolio(session: Session, fixture_portfolio: None) -> None:
    r = kpi_report(session, PERIOD, TODAY)
    assert (r.inputs.recovered, r.inputs.overdue, r.recovery_rate_pct) == (
        Decimal("1200.00"), Decimal("6500.00"), Decimal("18.46"),
    )  # fmt: skip
    assert (r.agreements_count, r.agreements_value) == (2, Decimal("4300.00"))
    per_day = {p.day: (p.count, p.value) for p in r.per_day if p.count}
    assert per_day == {
        date(2026, 11, 5): (1, Decimal("1800.00")),
        date(2026, 11, 19): (1, Decimal("2500.00")),
    }
    assert len(r.per_day) == 22
    assert (r.inputs.conversations_started, r.inputs.conversations_converted, r.conversion_pct) == (
        2 + 2,
        2,
        Decimal("50.00"),
    )
    assert r.handoff_rate_pct == Decimal("75.00")
    assert r.handoffs_by_reason == {
        "dispute": (1, Decimal("25.00")), "identity_failed": (1, Decimal("25.00")), "request_human": (1, Decimal("25.00")),
    }  # fmt: skip
    assert r.average_days_overdue == Decimal("33.3")
    assert (r.inputs.messages_received, r.inputs.messages_sent) == (5, 3)
    assert (r.promises_kept, r.promises_due, r.promise_kept_pct) == (1, 3, Decimal("33.33"))
    fr = r.first_response
    assert (fr.answered, fr.unanswered, fr.average_minutes, fr.median_minutes) == (
        2,
        1,
        Decimal("20.0"),
        Decimal("20.0"),
    )


def test_figures_for_one_segment(session: Session, fixture_portfolio: None) -> None:
    r = kpi_report(session, PERIOD, TODAY, "Varejo")
    assert (r.inputs.recovered, r.inputs.overdue, r.recovery_rate_pct) == (
        Decimal("1200.00"), Decimal("3500.00"), Decimal("34.29"),
    )  # fmt: skip
    assert (r.agreements_count, r.agreements_value) == (1, Decimal("1800.00"))
    assert (r.inputs.conversations_started, r.conversion_pct) == (1, Decimal("100.00"))
    assert r.handoffs_by_reason == {"request_human": (1, Decimal("100.00"))}
    assert r.average_days_overdue == Decimal("20.0")
    assert (r.inputs.messages_received, r.inputs.messages_sent) == (2, 2)
    assert (r.promises_kept, r.promises_due, r.promise_kept_pct) == (1, 2, Decimal("50.00"))
    assert (r.first_response.answered, r.first_response.average_minutes) == (1, Decimal("10.0"))


def test_an_empty_period_has_no_rates_rather_than_zero(session: Session, fixture_portfolio: None) -> None:
    r = kpi_report(session, Period(date(2026, 1, 1), date(2026, 1, 31)), TODAY)
    assert r.agreements_count == 0 and r.conversion_pct is None and r.promise_kept_pct is None
    assert r.recovery_rate_pct is None and r.first_response.average_minutes is None


def test_api_and_dashboard_show_the_same_figures(
    client: TestClient, session: Session, fixture_portfolio: None
) -> None:
    create_user(session, "admin@example.com", "senha-muito-secreta", Role.ADMIN)
    session.commit()
    auth = client.post(
        "/api/auth/token", data={"username": "admin@example.com", "password": "senha-muito-secreta"}
    )
    headers = {"Authorization": f"Bearer {auth.json()['access_token']}"}
    body = client.get(
        "/api/kpis", params={"start": "2026-11-01", "end": "2026-11-22"}, headers=headers
    ).json()
    assert body["recovery"] == {"recovered": "1200.00", "overdue": "6500.00", "rate_pct": "18.46"}
    assert body["agreements"]["count"] == 2 and body["agreements"]["value"] == "4300.00"
    assert body["promises"] == {"due": 3, "kept": 1, "kept_pct": "33.33"}
    assert body["first_response"]["average_minutes"] == "20.0"
    seg = client.get("/api/kpis", params={"start": "2026-11-01", "end": "2026-11-22", "segment": "varejo"},
                     headers=headers).json()  # fmt: skip
    assert seg["recovery"]["rate_pct"] == "34.29" and seg["segment"] == "varejo"
