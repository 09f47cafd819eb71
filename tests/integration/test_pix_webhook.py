"""PIX confirmations: reconciled by txid, idempotently, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.db.models import Agreement, AgreementStatus, Invoice, InvoiceStatus, PaymentEvent
from tests.integration.test_negotiation_api import AUTH, conversation_of, quote

TOKEN = {"X-Webhook-Token": "dev-pix-webhook-token-change-me"}


def agreement_for(client: TestClient, session: Session, option: str) -> dict[str, Any]:
    cid = conversation_of(client, session, "+5531991234567", "12345678")
    q = quote(client, cid)["quote"]
    r = client.post(
        f"/internal/conversations/{cid}/accept", json={"quote_id": q["id"], "option": option}, headers=AUTH
    )
    assert r.status_code == 200, r.text
    return r.json()


def e2e(n: int) -> str:
    """A Bacen end-to-end id: E + payer ISPB + yyyyMMddHHmm + 11 characters (32 in all)."""
    return f"E18236120202611231300{n:011d}"


def pix(e2e_id: str, txid: str | None, amount: str) -> dict[str, Any]:
    item: dict[str, Any] = {"endToEndId": e2e_id, "valor": amount, "horario": "2026-11-23T13:00:00.000Z"}
    if txid:
        item["txid"] = txid
    return item


def test_payments_settle_the_agreement_once(
    client: TestClient, session: Session, portfolio: dict[str, int]
) -> None:
    agreement = agreement_for(client, session, "plan-1")
    down, first = agreement["installments"]
    body = {"pix": [pix(e2e(1), down["txid"], down["amount"]["value"])]}
    r = client.post("/webhooks/pix", json=body, headers=TOKEN)
    assert r.status_code == 200 and r.json()["results"][0]["outcome"] == "matched"
    # The PSP repeats itself: nothing changes.
    assert (
        client.post("/webhooks/pix", json=body, headers=TOKEN).json()["results"][0]["outcome"] == "duplicate"
    )
    wrong = client.post("/webhooks/pix", json={"pix": [pix(e2e(2), first["txid"], "1.00")]}, headers=TOKEN)
    assert wrong.json()["results"][0]["outcome"] == "amount_mismatch"
    stray = client.post("/webhooks/pix", json={"pix": [pix(e2e(3), None, "50.00")]}, headers=TOKEN)
    assert stray.json()["results"][0]["outcome"] == "unmatched"
    session.expire_all()
    assert session.scalar(select(Agreement)).status == AgreementStatus.ACTIVE  # type: ignore[union-attr]
    last = client.post(
        "/webhooks/pix", json={"pix": [pix(e2e(4), first["txid"], first["amount"]["value"])]}, headers=TOKEN
    )
    assert last.json()["results"][0] == {
        "endToEndId": e2e(4),
        "outcome": "matched",
        "agreement": agreement["id"],
        "installment": 1,
    }
    session.expire_all()
    assert session.scalar(select(Agreement)).status == AgreementStatus.PAID  # type: ignore[union-attr]
    nf1 = session.scalar(select(Invoice).where(Invoice.number == "NF-1"))
    assert nf1 is not None and nf1.status == InvoiceStatus.PAID
    assert session.scalar(select(func.count()).select_from(PaymentEvent)) == 4
    detail = client.get(f"/internal/agreements/{agreement['id']}/installments/1/pix", headers=AUTH).json()
    assert detail["status"] == "paid"


def test_webhook_rejects_bad_token_and_bad_bodies(client: TestClient, session: Session) -> None:
    assert client.post("/webhooks/pix", json={"pix": []}).status_code == 401
    assert client.post("/webhooks/pix", json={"pix": []}, headers={"X-Webhook-Token": "x"}).status_code == 401
    for body in ({"nada": 1}, {"pix": [{"endToEndId": e2e(9), "valor": 10.5}]}, {"pix": [{"valor": "1.00"}]}):
        r = client.post("/webhooks/pix", json=body, headers=TOKEN)
        assert r.status_code == 422 and r.json()["detail"]
    r = client.post("/webhooks/pix", content=b"{", headers={**TOKEN, "content-type": "application/json"})
    assert r.status_code == 422
    assert session.scalar(select(func.count()).select_from(PaymentEvent)) == 0
