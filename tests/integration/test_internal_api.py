from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import Conversation, ConversationState
from tests.integration.conftest import SERVICE_TOKEN

AUTH = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
ANA = "+5531991234567"


def _conversation(client: TestClient, session: Session, phone: str) -> str:
    client.post("/channels/sandbox/messages", json={"sender": phone, "text": "oi"})
    conv = session.scalar(select(Conversation).where(Conversation.address == phone))
    assert conv is not None
    return conv.public_id


def test_internal_api_requires_the_service_token(
    client: TestClient, session: Session, portfolio: dict[str, int]
) -> None:
    cid = _conversation(client, session, ANA)
    assert client.get(f"/internal/conversations/{cid}/context").status_code == 401
    bad = {"Authorization": "Bearer nope"}
    assert client.get(f"/internal/conversations/{cid}/debts", headers=bad).status_code == 401


def test_unknown_conversation_is_404(client: TestClient) -> None:
    assert client.get("/internal/conversations/abc/context", headers=AUTH).status_code == 404


def test_context_of_registered_unverified_and_unknown(
    client: TestClient, session: Session, portfolio: dict[str, int]
) -> None:
    known = client.get(
        f"/internal/conversations/{_conversation(client, session, ANA)}/context", headers=AUTH
    ).json()
    assert known == {
        "status": "unverified",
        "attempts_left": 3,
        "creditor_name": "Horizonte Distribuidora",
        "contact_first_name": None,
    }
    stranger = _conversation(client, session, "+5521988887777")
    assert (
        client.get(f"/internal/conversations/{stranger}/context", headers=AUTH).json()["status"] == "unknown"
    )


def test_verified_contact_sees_updated_balance(
    client: TestClient, session: Session, portfolio: dict[str, int]
) -> None:
    cid = _conversation(client, session, ANA)
    assert client.get(f"/internal/conversations/{cid}/debts", headers=AUTH).status_code == 403
    r = client.post(f"/internal/conversations/{cid}/verify", json={"answer": "é 12.345.678"}, headers=AUTH)
    assert r.json() == {"outcome": "verified", "attempts_left": 3, "status": "verified"}
    debts = client.get(f"/internal/conversations/{cid}/debts", headers=AUTH).json()
    assert debts["debtor_name"] == "Mercado Bom Preço Ltda"
    assert debts["as_of_display"] == "22/11/2026"
    first, second = debts["invoices"]
    # NF-1: 2 350,00, 20 days late -> multa 47,00 + juros 15,67
    assert (first["number"], first["days_late"], first["late_fee"], first["interest"], first["total"]) == (
        "NF-1",
        20,
        "47.00",
        "15.67",
        "2412.67",
    )
    assert first["total_display"] == "R$ 2.412,67" and first["due_date_display"] == "02/11/2026"
    assert (second["number"], second["days_late"], second["total"]) == ("NF-2", 0, "100.00")
    assert debts["total"] == "2512.67" and debts["total_display"] == "R$ 2.512,67"
    # Only Mercado's invoices: Tech Nova's are never shown to Ana.
    assert "NF-3" not in {i["number"] for i in debts["invoices"]}
    ctx = client.get(f"/internal/conversations/{cid}/context", headers=AUTH).json()
    assert ctx["status"] == "verified" and ctx["contact_first_name"] == "Ana"


def test_another_debtors_root_does_not_verify(
    client: TestClient, session: Session, portfolio: dict[str, int]
) -> None:
    cid = _conversation(client, session, ANA)
    r = client.post(f"/internal/conversations/{cid}/verify", json={"answer": "12ABC345"}, headers=AUTH).json()
    assert r["outcome"] == "mismatch" and r["attempts_left"] == 2


def test_three_failures_lock_disclosure_and_hand_off(
    client: TestClient, session: Session, portfolio: dict[str, int]
) -> None:
    cid = _conversation(client, session, ANA)
    outcomes = [
        client.post(f"/internal/conversations/{cid}/verify", json={"answer": a}, headers=AUTH).json()[
            "outcome"
        ]
        for a in ("11111111", "não sei", "22222222", "33333333", "12345678")
    ]
    assert outcomes == ["mismatch", "invalid", "mismatch", "locked", "locked"]
    r = client.get(f"/internal/conversations/{cid}/debts", headers=AUTH)
    assert r.status_code == 403 and r.json()["status"] == "locked"
    session.expire_all()
    conv = session.scalar(select(Conversation).where(Conversation.public_id == cid))
    assert conv is not None
    assert conv.state == ConversationState.WAITING_HUMAN and conv.handoff_reason == "identity_failed"
    assert conv.contact_id is None


def test_unknown_number_learns_nothing(
    client: TestClient, session: Session, portfolio: dict[str, int]
) -> None:
    cid = _conversation(client, session, "+5521988887777")
    r = client.post(f"/internal/conversations/{cid}/verify", json={"answer": "12345678"}, headers=AUTH).json()
    assert r["outcome"] == "unknown"
    debts = client.get(f"/internal/conversations/{cid}/debts", headers=AUTH)
    assert debts.status_code == 403 and debts.json() == {
        "detail": "identidade não verificada",
        "status": "unknown",
    }


def test_phone_without_ninth_digit_matches_contact(
    client: TestClient, session: Session, portfolio: dict[str, int]
) -> None:
    cid = _conversation(client, session, "+553191234567")
    assert client.get(f"/internal/conversations/{cid}/context", headers=AUTH).json()["status"] == "unverified"


def test_handoff_outside_hours_says_when_and_the_hours(
    client: TestClient, session: Session, portfolio: dict[str, int]
) -> None:
    # NOW is a Sunday: nobody answers until Monday 8h; the hours come from the settings in force.
    cid = _conversation(client, session, ANA)
    r = client.post(
        f"/internal/conversations/{cid}/handoff", json={"reason": "request_human"}, headers=AUTH
    ).json()
    assert r["humans_available"] is False
    assert r["next_opening_display"] == "segunda, 23/11/2026 às 8h"
    assert r["working_hours_display"] == "de segunda a sexta, das 8h às 18h"
