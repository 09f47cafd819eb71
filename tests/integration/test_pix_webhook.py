"""PIX confirmations: signed (HMAC-SHA256 of the raw body), reconciled by txid, idempotently, on
SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.api.routes.payments import sign_body
from server.db.models import (
    Agreement,
    AgreementStatus,
    Author,
    Handoff,
    Invoice,
    InvoiceStatus,
    Message,
    PaymentEvent,
    ScheduledReminder,
)
from tests.integration.test_negotiation_api import AUTH, conversation_of, quote

SECRET = "dev-pix-webhook-secret-change-me"


def post_pix(client: TestClient, body: Any, *, secret: str = SECRET, raw: bytes | None = None) -> Any:
    """As the PSP sends it: the raw JSON body and its signature header."""
    content = raw if raw is not None else json.dumps(body).encode()
    headers = {"content-type": "application/json", "X-Negocia-Signature": sign_body(content, secret)}
    return client.post("/webhooks/pix", content=content, headers=headers)


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
    r = post_pix(client, body)
    assert r.status_code == 200 and r.json()["results"][0]["outcome"] == "matched"
    # The PSP repeats itself: nothing changes.
    assert post_pix(client, body).json()["results"][0]["outcome"] == "duplicate"
    wrong = post_pix(client, {"pix": [pix(e2e(2), first["txid"], "1.00")]})
    assert wrong.json()["results"][0]["outcome"] == "amount_mismatch"
    assert wrong.json()["results"][0]["handoff"] == "partial_payment"
    handoff = session.scalar(select(Handoff))
    assert handoff is not None and handoff.reason == "partial_payment" and "R$ 1,00" in handoff.summary
    thanks = session.scalars(select(Message).where(Message.author == Author.SYSTEM)).all()
    assert len(thanks) == 1 and "Horizonte Distribuidora confirma o recebimento" in thanks[0].text
    stray = post_pix(client, {"pix": [pix(e2e(3), None, "50.00")]})
    assert stray.json()["results"][0]["outcome"] == "unmatched"
    session.expire_all()
    assert session.scalar(select(Agreement)).status == AgreementStatus.ACTIVE  # type: ignore[union-attr]
    last = post_pix(client, {"pix": [pix(e2e(4), first["txid"], first["amount"]["value"])]})
    assert last.json()["results"][0] == {
        "endToEndId": e2e(4),
        "outcome": "matched",
        "agreement": agreement["id"],
        "installment": 1,
        "handoff": None,
    }
    session.expire_all()
    assert session.scalar(select(Agreement)).status == AgreementStatus.PAID  # type: ignore[union-attr]
    nf1 = session.scalar(select(Invoice).where(Invoice.number == "NF-1"))
    assert nf1 is not None and nf1.status == InvoiceStatus.PAID
    assert session.scalar(select(func.count()).select_from(PaymentEvent)) == 4
    detail = client.get(f"/internal/agreements/{agreement['id']}/installments/1/pix", headers=AUTH).json()
    assert detail["status"] == "paid"


def test_webhook_rejects_missing_or_wrong_signatures_and_bad_bodies(
    client: TestClient, session: Session
) -> None:
    body = json.dumps({"pix": [pix(e2e(8), "NEG0000000001P000", "10.00")]}).encode()
    assert (
        client.post("/webhooks/pix", content=body, headers={"content-type": "application/json"}).status_code
        == 401
    )
    assert post_pix(client, None, raw=body, secret="outro-segredo").status_code == 401
    # The old shared-token header is no longer accepted.
    old = {"X-Webhook-Token": "dev-pix-webhook-token-change-me", "content-type": "application/json"}
    assert client.post("/webhooks/pix", content=body, headers=old).status_code == 401
    signed = sign_body(body, SECRET)
    tampered = body.replace(b"10.00", b"99.00")
    r = client.post("/webhooks/pix", content=tampered, headers={"X-Negocia-Signature": signed})
    assert r.status_code == 401
    no_prefix = {"X-Negocia-Signature": signed.removeprefix("sha256=")}
    assert client.post("/webhooks/pix", content=body, headers=no_prefix).status_code == 401
    for bad in ({"nada": 1}, {"pix": [{"endToEndId": e2e(9), "valor": 10.5}]}, {"pix": [{"valor": "1.00"}]}):
        r = post_pix(client, bad)
        assert r.status_code == 422 and r.json()["detail"]
    assert post_pix(client, None, raw=b"{").status_code == 422
    assert session.scalar(select(func.count()).select_from(PaymentEvent)) == 0


def test_invoice_pix_pays_the_invoice_stops_its_reminders_and_thanks(
    client: TestClient, session: Session, portfolio: dict[str, int]
) -> None:
    """An invoice's own PIX code (sent with its reminders) pays the invoice; a pending reminder stops."""
    nf2 = session.scalar(select(Invoice).where(Invoice.number == "NF-2"))
    assert nf2 is not None
    nf2.txid = f"FAT{nf2.id:012d}"
    contact_id = portfolio["ana"]
    session.add(ScheduledReminder(idempotency_key=f"inv:{nf2.id}:fatura_d+1:{contact_id}", target="invoice",
                                  invoice_id=nf2.id, contact_id=contact_id, step_id="fatura_d+1",
                                  due_at=datetime(2026, 12, 2, 12, tzinfo=UTC), status="scheduled"))  # fmt: skip
    session.commit()
    over = post_pix(client, {"pix": [pix(e2e(20), nf2.txid, "150.00")]}).json()["results"][0]
    assert (over["outcome"], over["handoff"]) == ("amount_mismatch", "wrong_amount")
    body = {"pix": [pix(e2e(21), nf2.txid, "100.00")]}  # paid before its due date: the principal
    assert post_pix(client, body).json()["results"][0]["outcome"] == "matched"
    assert post_pix(client, body).json()["results"][0]["outcome"] == "duplicate"
    session.expire_all()
    assert nf2.status == InvoiceStatus.PAID and nf2.paid_amount == Decimal("100.00")
    reminder = session.scalar(select(ScheduledReminder))
    assert reminder is not None and (reminder.status, reminder.reason) == ("skipped", "paid")
    texts = [m.text for m in session.scalars(select(Message).where(Message.author == Author.SYSTEM))]
    assert texts == [
        "Olá, Ana! A Horizonte Distribuidora confirma o recebimento do pagamento da fatura NF-2, no valor de R$ 100,00. Obrigado!"
    ]
    assert session.scalar(select(Handoff)).reason == "wrong_amount"  # type: ignore[union-attr]
