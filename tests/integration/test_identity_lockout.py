"""The identity-check lockout holds per sender, across conversations and channels: a sender who
failed on the sandbox gets no fresh attempts on WhatsApp or Telegram (SQLite and PostgreSQL)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import Channel, Contact, Conversation
from tests.integration.conftest import SERVICE_TOKEN

AUTH = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
ANA = "+5531991234567"


def _conversation(session: Session, channel: Channel, address: str) -> str:
    conversation = Conversation(channel=channel, address=address)
    session.add(conversation)
    session.commit()
    return conversation.public_id


def _verify(client: TestClient, cid: str, answer: str) -> dict:  # type: ignore[type-arg]
    r = client.post(f"/internal/conversations/{cid}/verify", json={"answer": answer}, headers=AUTH)
    assert r.status_code == 200
    return r.json()  # type: ignore[no-any-return]


def _context(client: TestClient, cid: str) -> dict:  # type: ignore[type-arg]
    return client.get(f"/internal/conversations/{cid}/context", headers=AUTH).json()  # type: ignore[no-any-return]


def test_failures_add_up_across_channels_and_the_lock_covers_every_channel(
    client: TestClient, session: Session, portfolio: dict[str, int]
) -> None:
    ana = session.get(Contact, portfolio["ana"])
    assert ana is not None
    ana.telegram_user_id = 777  # linked by sharing her own contact card
    session.commit()
    sandbox = _conversation(session, Channel.SANDBOX, ANA)
    whatsapp = _conversation(session, Channel.WHATSAPP, "+553191234567")  # the 9th digit dropped
    telegram = _conversation(session, Channel.TELEGRAM, "777")
    bia = _conversation(session, Channel.SANDBOX, "+5548996665555")

    assert _verify(client, sandbox, "11111111")["outcome"] == "mismatch"
    assert _verify(client, sandbox, "22222222")["outcome"] == "mismatch"
    assert _context(client, whatsapp)["attempts_left"] == 1  # not a fresh 3
    assert _context(client, telegram)["attempts_left"] == 1
    assert _verify(client, whatsapp, "33333333")["outcome"] == "locked"

    for cid in (sandbox, whatsapp, telegram):
        assert _context(client, cid)["status"] == "locked"
        assert _verify(client, cid, "12345678")["outcome"] == "locked"  # even the right root
        debts = client.get(f"/internal/conversations/{cid}/debts", headers=AUTH)
        assert debts.status_code == 403 and debts.json()["status"] == "locked"
    # A conversation opened later by the same phone is locked from the start.
    later = _conversation(session, Channel.WHATSAPP, ANA)
    assert _context(client, later)["status"] == "locked"
    # Another sender is untouched.
    assert _context(client, bia) == {**_context(client, bia), "status": "unverified", "attempts_left": 3}
    session.expire_all()
    first = session.scalar(select(Conversation).where(Conversation.public_id == whatsapp))
    assert first is not None and first.handoff_reason == "identity_failed"  # a person takes over


def test_a_success_on_any_channel_clears_the_senders_failures(
    client: TestClient, session: Session, portfolio: dict[str, int]
) -> None:
    sandbox = _conversation(session, Channel.SANDBOX, ANA)
    whatsapp = _conversation(session, Channel.WHATSAPP, ANA)
    assert _verify(client, sandbox, "11111111")["outcome"] == "mismatch"
    assert _verify(client, whatsapp, "22222222")["outcome"] == "mismatch"
    assert _verify(client, whatsapp, "12.345.678")["outcome"] == "verified"
    assert _context(client, sandbox)["attempts_left"] == 3
    assert _verify(client, sandbox, "99999999")["attempts_left"] == 2
