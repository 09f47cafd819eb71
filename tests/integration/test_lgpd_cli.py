"""`negocia lgpd export|erase --phone …`: everything held about a contact as JSON, and
anonymisation that keeps agreements' legal evidence with the reason recorded (subprocess, as the
operator runs it; SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.media import MediaStore
from server.db.models import Agreement, AuditEntry, Author, Contact, Conversation, Handoff, Message
from server.settings import Settings
from tests.integration.test_pix_webhook import agreement_for

REPO_ROOT = Path(__file__).resolve().parents[2]
ANA = "+5531991234567"


def lgpd(
    tmp_path: Path, database_url: str, *args: str, media_dir: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NEGOCIA_DATABASE_URL": database_url, "PYTHONPATH": str(REPO_ROOT),
           "PYTHONIOENCODING": "utf-8", "NEGOCIA_MEDIA_DIR": str(media_dir or tmp_path / "media")}  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "server.cli", "lgpd", *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, encoding="utf-8", timeout=120,
    )  # fmt: skip


def _history(client: TestClient, session: Session) -> dict[str, Any]:
    agreement = agreement_for(client, session, "cash")  # Ana verified, quoted, accepted
    client.post("/channels/sandbox/messages", json={"sender": ANA, "text": "sou a Ana, ana@bompreco.com.br"})
    conversation = session.scalar(select(Conversation).where(Conversation.address == ANA))
    assert conversation is not None
    session.add(
        Handoff(conversation_id=conversation.id, reason="human_requested", summary="Ana Souza pediu ajuda")
    )
    session.commit()
    return agreement


def test_export_lists_everything_held_about_the_contact(
    client: TestClient, session: Session, portfolio: dict[str, int], database_url: str, tmp_path: Path
) -> None:
    agreement = _history(client, session)
    r = lgpd(tmp_path, database_url, "export", "--phone", "(31) 99123-4567")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["requested_phone"] == ANA
    (contact,) = data["contacts"]
    assert contact["name"] == "Ana Souza" and contact["phone_e164"] == ANA
    assert contact["consents"] == {"opted_out_at": None, "whatsapp_reminders": True}
    assert contact["debtor"]["cnpj"] == "12345678000195"
    assert {i["number"] for i in contact["debtor"]["invoices"]} >= {"NF-1"}
    (conversation,) = data["conversations"]
    texts = [m["text"] for m in conversation["messages"]]
    assert "sou a Ana, ana@bompreco.com.br" in texts
    assert [h["reason"] for h in data["handoffs"]] == ["human_requested"]
    (exported,) = data["agreements"]
    assert exported["public_id"] == agreement["id"] and len(exported["terms_sha256"]) == 64
    assert data["erasures"] == []


def _stored_receipt(session: Session, settings: Settings) -> Path:
    """A receipt Ana sent, stored as the media downloader stores it."""
    conversation = session.scalar(select(Conversation).where(Conversation.address == ANA))
    assert conversation is not None
    message = session.scalars(
        select(Message).where(Message.conversation_id == conversation.id, Message.author == Author.CONTACT)
    ).first()
    assert message is not None
    relative = MediaStore(settings.media_dir).write(
        conversation.public_id, message.id, 0, b"%PDF-1.4 recibo", "application/pdf"
    )
    message.media = [{"status": "stored", "path": relative, "content_type": "application/pdf", "size": 15}]
    session.commit()
    return settings.media_dir / relative


def test_erase_anonymises_and_keeps_the_agreement_evidence(
    client: TestClient, session: Session, portfolio: dict[str, int], database_url: str, tmp_path: Path,
    settings: Settings,
) -> None:  # fmt: skip
    _history(client, session)
    receipt = _stored_receipt(session, settings)
    assert receipt.is_file()
    before = session.scalar(select(Agreement))
    assert before is not None
    evidence = (before.terms_sha256, before.accepted_at, before.channel, before.message_id, before.contact_id)

    r = lgpd(tmp_path, database_url, "erase", "--phone", ANA, "--reason", "pedido por e-mail em 30/11/2026",
             media_dir=settings.media_dir)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "Contato anonimizado" in r.stdout and before.public_id in r.stdout
    assert "1 anexo(s) apagado(s)" in r.stdout
    assert not receipt.exists() and not receipt.parent.exists()  # the file, and its emptied folder

    session.expire_all()
    ana = session.get(Contact, portfolio["ana"])
    assert ana is not None
    assert "Ana" not in ana.name and ana.phone_e164 is None and ana.phone_key is None
    assert ana.email is None and ana.telegram_user_id is None and ana.opted_out_at is not None
    conversation = session.scalar(select(Conversation).where(Conversation.contact_id == ana.id))
    assert conversation is not None and conversation.address.startswith("anon:")
    everything = " ".join(m.text for m in session.scalars(select(Message)))
    assert "ana@bompreco" not in everything and "Ana" not in everything and "99123" not in everything
    inbound = session.scalars(select(Message).where(Message.author == Author.CONTACT)).all()
    assert inbound and all(m.text.startswith("[conteúdo apagado") and m.media is None for m in inbound)
    handoff = session.scalar(select(Handoff).where(Handoff.reason == "human_requested"))
    assert handoff is not None and "Ana" not in handoff.summary
    after = session.scalar(select(Agreement))
    assert after is not None
    assert (
        after.terms_sha256,
        after.accepted_at,
        after.channel,
        after.message_id,
        after.contact_id,
    ) == evidence
    (entry,) = session.scalars(select(AuditEntry).where(AuditEntry.action == "lgpd_erase")).all()
    assert entry.details["reason"] == "pedido por e-mail em 30/11/2026"
    assert "LGPD art. 7" in entry.details["evidence_kept"] and before.public_id in entry.details["agreements"]
    # The phone now belongs to nobody; Bia is untouched.
    again = lgpd(tmp_path, database_url, "export", "--phone", ANA)
    assert again.returncode == 1 and "nenhum contato" in again.stderr
    bia = session.scalar(select(Contact).where(Contact.name == "Beatriz Alves"))
    assert bia is not None and bia.phone_e164 == "+5548996665555"


def test_bad_and_unknown_phones(database_url: str, tmp_path: Path) -> None:
    bad = lgpd(tmp_path, database_url, "erase", "--phone", "12")
    assert bad.returncode == 2 and "telefone inválido" in bad.stderr
    unknown = lgpd(tmp_path, database_url, "export", "--phone", "+5521988887777")
    assert unknown.returncode == 1 and "nenhum contato" in unknown.stderr
