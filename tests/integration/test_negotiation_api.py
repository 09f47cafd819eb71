"""Negotiation over the internal API (quotes, moves, acceptance) and the staff API, on SQLite
and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from server.clock import FixedClock
from server.container import Container
from server.db.models import (
    Agreement,
    AgreementInvoice,
    Conversation,
    Invoice,
    InvoiceStatus,
    PolicyVersion,
    Quote,
)
from server.domain.pix import parse_brcode
from server.services.agreements import Acceptance, accept_quote
from server.services.negotiation import NegotiationError
from server.services.users import create_user
from tests.integration.conftest import NOW, SERVICE_TOKEN

AUTH = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
ANA = "+5531991234567"
BIA = "+5548996665555"


def conversation_of(client: TestClient, session: Session, phone: str, root: str) -> str:
    client.post("/channels/sandbox/messages", json={"sender": phone, "text": "oi"})
    conv = session.scalar(select(Conversation).where(Conversation.address == phone))
    assert conv is not None
    r = client.post(f"/internal/conversations/{conv.public_id}/verify", json={"answer": root}, headers=AUTH)
    assert r.json()["outcome"] == "verified"
    return conv.public_id


@pytest.fixture
def ana(client: TestClient, session: Session, portfolio: dict[str, int]) -> str:
    return conversation_of(client, session, ANA, "12345678")


def staff_token(client: TestClient, session: Session, role: str = "admin") -> dict[str, str]:
    email = f"{role}@horizonte.example.com"
    create_user(session, email, "senha-muito-segura", role)
    session.commit()
    r = client.post("/api/auth/token", data={"username": email, "password": "senha-muito-segura"})
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def quote(client: TestClient, cid: str, **body: Any) -> dict[str, Any]:
    r = client.post(f"/internal/conversations/{cid}/quote", json=body, headers=AUTH)
    assert r.status_code == 200, r.text
    return r.json()


def move(client: TestClient, cid: str, **body: Any) -> dict[str, Any]:
    r = client.post(f"/internal/conversations/{cid}/moves", json=body, headers=AUTH)
    assert r.status_code == 200, r.text
    return r.json()


def test_opening_quote_under_the_default_policy(client: TestClient, ana: str) -> None:
    q = quote(client, ana)
    # Only NF-1 is overdue (NF-2 is due 01/12): 2 350,00 + 47,00 + 15,67 = 2 412,67, 20 days late.
    # Rule 1-30 days: 5 % discount, 3 installments; ladder step 0 gives half of each.
    assert q["reason"] == "opening" and not q["needs_human"] and not q["final"]
    body = q["quote"]
    assert body["policy_version"] == 1 and body["step"] == 0
    assert body["balance_total"] == {"value": "2412.67", "display": "R$ 2.412,67"}
    assert body["cash"]["discount_pct"] == "2.50"
    assert body["cash"]["price"]["display"] == "R$ 2.352,36"
    assert body["cash"]["due_date"]["display"] == "25/11/2026"
    plan = body["plans"][0]
    assert plan["installments"] == 1 and plan["down_payment"]["value"] == "241.27"


def test_refusals_concede_then_hand_off(client: TestClient, session: Session, ana: str) -> None:
    quote(client, ana)
    steps = [move(client, ana, move="refuse") for _ in range(3)]
    assert [s["quote"]["step"] if s["quote"] else None for s in steps] == [1, 2, None]
    assert steps[1]["final"] and steps[1]["quote"]["cash"]["discount_pct"] == "5.00"
    assert steps[2]["needs_human"] and steps[2]["reason"] == "refused_final_offer"
    session.expire_all()
    conv = session.scalar(select(Conversation).where(Conversation.public_id == ana))
    assert (
        conv is not None
        and conv.state.value == "waiting_human"
        and conv.handoff_reason == "refused_final_offer"
    )


def test_requested_installments_and_counter_offers(client: TestClient, ana: str) -> None:
    quote(client, ana)
    three = move(client, ana, move="installments", installments=3)
    assert three["accepted_counter"] and three["quote"]["proposal"]["installments"] == 3
    ten = move(client, ana, move="installments", installments=10)
    assert ten["reason"] == "max_installments" and ten["quote"]["proposal"]["installments"] == 3
    cash = move(client, ana, move="cash_amount", amount="2300.00")
    assert cash["accepted_counter"] and cash["quote"]["cash"]["price"]["value"] == "2300.00"
    low = move(client, ana, move="cash_amount", amount="1000.00")
    assert low["needs_human"] and low["reason"] == "max_discount"


def test_accepting_creates_one_agreement_with_pix_codes_and_term(
    client: TestClient, session: Session, ana: str, container: Container
) -> None:
    q = quote(client, ana)["quote"]
    body = {"quote_id": q["id"], "option": "plan-1", "message_id": "SM123"}
    first = client.post(f"/internal/conversations/{ana}/accept", json=body, headers=AUTH)
    assert first.status_code == 200, first.text
    again = client.post(f"/internal/conversations/{ana}/accept", json=body, headers=AUTH)
    assert again.json()["id"] == first.json()["id"]
    agreement = first.json()
    assert agreement["invoices"] == ["NF-1"] and agreement["message_id"] == "SM123"
    amounts = [Decimal(i["amount"]["value"]) for i in agreement["installments"]]
    assert [i["number"] for i in agreement["installments"]] == [0, 1]
    assert amounts[0] == Decimal("241.27")
    for inst in agreement["installments"]:
        parsed = parse_brcode(inst["pix_code"])
        assert parsed.amount == Decimal(inst["amount"]["value"]) and parsed.txid == inst["txid"]
    assert len(agreement["terms_sha256"]) == 64
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Agreement)) == 1
    nf1 = session.scalar(select(Invoice).where(Invoice.number == "NF-1"))
    assert nf1 is not None and nf1.status == InvoiceStatus.RENEGOTIATED
    # A different option of the same quote is refused; a new quote finds nothing left to negotiate.
    other = client.post(
        f"/internal/conversations/{ana}/accept", json={**body, "option": "cash"}, headers=AUTH
    )
    assert other.status_code == 409
    assert client.post(f"/internal/conversations/{ana}/quote", json={}, headers=AUTH).status_code == 409
    # The debtor's signed link serves the PDF; a tampered or expired one does not.
    url = agreement["term_url"].replace(container.settings.server_url, "")
    pdf = client.get(url)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert client.get(url.replace("sig=", "sig=x")).status_code == 403
    container.clock = FixedClock(NOW + timedelta(days=4))
    assert client.get(url).status_code == 410


def test_bad_input_is_refused_and_nothing_is_stored(
    client: TestClient, session: Session, ana: str, container: Container
) -> None:
    q = quote(client, ana)["quote"]
    bia = conversation_of(client, session, BIA, "12ABC345")
    cases = [
        ("moves", {"move": "cash_amount", "amount": "100.001"}, 422),
        ("moves", {"move": "cash_amount", "amount": "1e15"}, 422),
        ("moves", {"move": "cash_amount", "amount": "-5"}, 422),
        ("moves", {"move": "cash_amount"}, 422),
        ("moves", {"move": "installments", "installments": 0}, 422),
        ("moves", {"move": "dance"}, 422),
        ("accept", {"quote_id": "nope", "option": "cash"}, 404),
        ("accept", {"quote_id": q["id"], "option": "plan-9"}, 422),
        ("quote", {"invoice_numbers": ["NF-404"]}, 422),
    ]
    quotes_before = session.scalar(select(func.count()).select_from(Quote))
    for path, body, status in cases:
        r = client.post(f"/internal/conversations/{ana}/{path}", json=body, headers=AUTH)
        assert r.status_code == status, (path, body, r.text)
        assert "detail" in r.json()
    # Another debtor's quote is not found for Beatriz.
    r = client.post(
        f"/internal/conversations/{bia}/accept", json={"quote_id": q["id"], "option": "cash"}, headers=AUTH
    )
    assert r.status_code == 404
    # Expired: quotes live until the end of their day.
    container.clock = FixedClock(NOW + timedelta(days=1))
    r = client.post(
        f"/internal/conversations/{ana}/accept", json={"quote_id": q["id"], "option": "cash"}, headers=AUTH
    )
    assert r.status_code == 409 and "expirada" in r.json()["detail"]
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Quote)) == quotes_before
    assert session.scalar(select(func.count()).select_from(Agreement)) == 0


def test_unverified_conversation_gets_no_quote(
    client: TestClient, session: Session, portfolio: dict[str, int]
) -> None:
    client.post("/channels/sandbox/messages", json={"sender": ANA, "text": "oi"})
    conv = session.scalar(select(Conversation))
    assert conv is not None
    r = client.post(f"/internal/conversations/{conv.public_id}/quote", json={}, headers=AUTH)
    assert r.status_code == 403 and r.json()["status"] == "unverified"


def test_two_concurrent_acceptances_make_one_agreement(
    client: TestClient, session_factory: sessionmaker[Session], ana: str, container: Container
) -> None:
    q = quote(client, ana)["quote"]
    results: list[str] = []
    errors: list[Exception] = []
    barrier = threading.Barrier(2)

    def accept() -> None:
        with session_factory() as s:
            quote_row = s.scalar(select(Quote).where(Quote.public_id == q["id"]))
            assert quote_row is not None
            barrier.wait()
            try:
                agreement = accept_quote(
                    s, quote_row, "cash", Acceptance("sandbox", None, None, None, NOW), container.settings,
                    NOW.date(),
                )  # fmt: skip
                results.append(agreement.public_id)
            except Exception as exc:
                errors.append(exc)

    threads = [threading.Thread(target=accept) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(results) == 2 and results[0] == results[1]
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Agreement)) == 1


def test_two_quotes_over_one_invoice_cannot_both_become_agreements(
    client: TestClient, session: Session, ana: str, container: Container
) -> None:
    first = quote(client, ana)["quote"]["id"]
    second = move(client, ana, move="refuse")["quote"]["id"]
    ok = client.post(
        f"/internal/conversations/{ana}/accept", json={"quote_id": second, "option": "cash"}, headers=AUTH
    )
    assert ok.status_code == 200
    clash = client.post(
        f"/internal/conversations/{ana}/accept", json={"quote_id": first, "option": "cash"}, headers=AUTH
    )
    assert clash.status_code == 409
    # And the database itself refuses a second active link, whatever the code does.
    agreement = session.scalar(select(Agreement))
    assert agreement is not None
    link = session.scalar(select(AgreementInvoice))
    assert link is not None
    session.add(
        AgreementInvoice(
            agreement_id=agreement.id,
            invoice_id=link.invoice_id + 0,
            active_invoice_id=link.invoice_id,
            principal=1,
            late_fee=0,
            interest=0,
        )
    )
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()
    assert isinstance(NegotiationError("x"), ValueError)


def test_policy_api_versions_and_validation(client: TestClient, session: Session, ana: str) -> None:
    assert client.get("/api/policy").status_code == 401
    admin = staff_token(client, session)
    current = client.get("/api/policy", headers=admin).json()
    assert current["version"] == 1 and len(current["policy"]["rules"]) == 4
    in_flight = quote(client, ana)["quote"]
    bad = {**current["policy"], "rules": [{**current["policy"]["rules"][0], "max_cash_discount_pct": "150"}]}
    r = client.put("/api/policy", json=bad, headers=admin)
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["detail"]}
    assert "rules[0].max_cash_discount_pct" in fields and "rules[0].max_days" in fields
    rules = current["policy"]["rules"]
    rules[0] = {**rules[0], "max_cash_discount_pct": "8.00"}
    r = client.put("/api/policy", json={**current["policy"], "rules": rules}, headers=admin)
    assert r.status_code == 200 and r.json()["version"] == 2
    assert [v["version"] for v in client.get("/api/policy/versions", headers=admin).json()] == [2, 1]
    # The negotiation in flight keeps version 1; a new one would use version 2.
    step = move(client, ana, move="refuse")["quote"]
    assert step["policy_version"] == 1 and step["cash"]["discount_pct"] == "3.75"  # 0.75 x 5 % (v2: 6,00)
    assert in_flight["policy_version"] == 1
    collector = staff_token(client, session, "collector")
    assert client.put("/api/policy", json=current["policy"], headers=collector).status_code == 403
    assert session.scalar(select(func.count()).select_from(PolicyVersion)) == 2


def test_policy_preview(client: TestClient, session: Session) -> None:
    admin = staff_token(client, session)
    r = client.post("/api/policy/preview", json={"amount": "13000.00", "days_overdue": 120}, headers=admin)
    assert r.status_code == 200, r.text
    steps = r.json()["steps"]
    assert [s["cash"]["discount_pct"] for s in steps] == ["10.00", "15.00", "20.00"]
    assert steps[-1]["final"] and steps[-1]["plans"][0]["installments"] == 10
    big = client.post(
        "/api/policy/preview", json={"amount": "850000.00", "days_overdue": 90}, headers=admin
    ).json()
    assert big["needs_human"] and big["reason"] == "above_authority" and big["steps"] == []


def test_staff_agreement_endpoints(client: TestClient, session: Session, ana: str) -> None:
    q = quote(client, ana)["quote"]
    made = client.post(
        f"/internal/conversations/{ana}/accept", json={"quote_id": q["id"], "option": "cash"}, headers=AUTH
    )
    agreement_id = made.json()["id"]
    assert client.get("/api/agreements").status_code == 401
    staff = staff_token(client, session, "collector")
    listed = client.get("/api/agreements", headers=staff).json()["agreements"]
    assert [a["id"] for a in listed] == [agreement_id]
    detail = client.get(f"/api/agreements/{agreement_id}", headers=staff).json()
    assert (
        detail["installments"][0]["amount"]["value"] == "2352.36"
        and detail["agreed_total"]["value"] == "2352.36"
    )
    pdf = client.get(f"/api/agreements/{agreement_id}/term.pdf", headers=staff)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert client.get("/api/agreements/nope", headers=staff).status_code == 404
    pix = client.get(f"/internal/agreements/{agreement_id}/installments/0/pix", headers=AUTH).json()
    assert pix["pix_code"] == detail["installments"][0]["pix_code"]


def test_installment_qr_image_behind_a_signed_link(
    client: TestClient, ana: str, container: Container
) -> None:
    q = quote(client, ana)["quote"]
    made = client.post(
        f"/internal/conversations/{ana}/accept", json={"quote_id": q["id"], "option": "cash"}, headers=AUTH
    )
    pix = client.get(f"/internal/agreements/{made.json()['id']}/installments/0/pix", headers=AUTH).json()
    url = pix["qr_url"].replace(container.settings.server_url, "")
    image = client.get(url)
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    assert (
        client.get(url.replace("/installments/0/", "/installments/1/")).status_code == 403
    )  # signed per path
    assert (
        client.get(f"/internal/agreements/{made.json()['id']}/installments/7/pix", headers=AUTH).status_code
        == 404
    )
