"""Inbound attachments: downloaded by the turn (never by the webhook), stored with size, type and
sha256, shown to staff; on WhatsApp through the fake Twilio (basic auth, CDN redirect) and on
Telegram through the fake Bot API (getFile + file URL). SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import texts
from bot.turn_runner import TurnRunner
from server.container import Container
from server.db.models import Conversation, ConversationState, Direction, Message, Role
from server.services.users import create_user
from tests.fakes import EchoDialogue
from tests.fakes_twilio import ACCOUNT_SID, FakeTwilio, inbound_form, signed_post

ANA = "+5531991234567"
PASSWORD = "senha-muito-secreta"
# Small but real files: the store checks the first bytes of PNG, JPEG and PDF.
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(200))
JPEG = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF" + bytes(300)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
pytestmark = pytest.mark.usefixtures("whatsapp")


def post(client: TestClient, form: dict[str, str]) -> int:
    body, headers = signed_post(form)
    return client.post("/channels/whatsapp", content=body, headers=headers).status_code


def settle(container: Container) -> None:
    assert container.turns.wait_idle(30)


def inbound(session: Session) -> list[Message]:
    session.expire_all()
    return list(
        session.scalars(select(Message).where(Message.direction == Direction.INBOUND).order_by(Message.id))
    )


@pytest.fixture
def staff(client: TestClient, session: Session) -> Iterator[dict[str, str]]:
    create_user(session, "cobra@example.com", PASSWORD, Role.COLLECTOR, "Carla Cobradora")
    session.commit()
    r = client.post("/api/auth/token", data={"username": "cobra@example.com", "password": PASSWORD})
    assert r.status_code == 200, r.text
    yield {"Authorization": f"Bearer {r.json()['access_token']}"}


def media_form(fake: FakeTwilio, *files: tuple[bytes, str], body: str = "") -> dict[str, str]:
    extra = {"NumMedia": str(len(files))}
    for i, (content, content_type) in enumerate(files):
        extra[f"MediaUrl{i}"] = fake.add_media(content, content_type)
        extra[f"MediaContentType{i}"] = content_type
    return inbound_form(ANA, body, **extra)


def test_a_receipt_image_and_a_pdf_are_stored_and_downloadable_by_staff(
    client: TestClient,
    whatsapp: Container,
    fake_twilio: FakeTwilio,
    dialogue: EchoDialogue,
    session: Session,
    staff: dict[str, str],
) -> None:
    assert post(client, media_form(fake_twilio, (JPEG, "image/jpeg"), (PDF, "application/pdf"))) == 200
    settle(whatsapp)
    (message,) = inbound(session)
    conversation = session.get(Conversation, message.conversation_id)
    assert conversation is not None
    image, pdf = message.media
    assert (image["status"], image["content_type"], image["size"]) == ("stored", "image/jpeg", len(JPEG))
    assert image["sha256"] == hashlib.sha256(JPEG).hexdigest()
    assert (pdf["status"], pdf["content_type"], pdf["size"]) == ("stored", "application/pdf", len(PDF))
    assert pdf["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert (whatsapp.settings.media_dir / pdf["path"]).read_bytes() == PDF
    # Fetched with the account's basic auth (the fake refuses anything else) via the CDN redirect.
    assert {user for path, user in fake_twilio.media_fetches if not path.startswith("/cdn/")} == {ACCOUNT_SID}
    assert fake_twilio.bodies_to(ANA) == [texts.MEDIA_RECEIVED] and dialogue.calls == []

    base = f"/api/conversations/{conversation.public_id}/media/{message.id}"
    r = client.get(f"{base}/0", headers=staff)
    assert r.status_code == 200 and r.content == JPEG
    assert r.headers["content-type"] == "image/jpeg" and r.headers["x-content-type-options"] == "nosniff"
    r = client.get(f"{base}/1", headers=staff)
    assert r.status_code == 200 and r.content == PDF and r.headers["content-type"] == "application/pdf"
    assert client.get(f"{base}/0").status_code == 401  # no token
    assert client.get(f"{base}/0", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get(f"{base}/2", headers=staff).status_code == 404  # no third attachment
    other = f"/api/conversations/nao-existe/media/{message.id}/0"
    assert client.get(other, headers=staff).status_code == 404


def test_the_console_transcript_shows_the_attachments(
    client: TestClient, whatsapp: Container, fake_twilio: FakeTwilio, session: Session
) -> None:
    create_user(session, "cobra@example.com", PASSWORD, Role.COLLECTOR, "Carla Cobradora")
    session.commit()
    post(client, media_form(fake_twilio, (PNG, "image/png"), (PDF, "application/pdf"), body="segue"))
    settle(whatsapp)
    (message,) = inbound(session)
    conversation = session.get(Conversation, message.conversation_id)
    assert conversation is not None
    link = f"/console/conversations/{conversation.public_id}/media/{message.id}"
    assert client.get(f"{link}/0", follow_redirects=False).status_code in (303, 401)  # no session
    whatsapp.settings.public_base_url = None  # https there means Secure cookies, not sent over http
    page = client.get("/console/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    r = client.post(
        "/console/login",
        data={"email": "cobra@example.com", "password": PASSWORD, "csrf_token": csrf.group(1)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    html = client.get(f"/console/conversations/{conversation.public_id}").text
    assert f'<img src="{link}/0"' in html and f'href="{link}/1"' in html
    r = client.get(f"{link}/1")
    assert r.status_code == 200 and r.content == PDF


def test_a_failed_download_is_recorded_and_the_debtor_still_acknowledged(
    client: TestClient, whatsapp: Container, fake_twilio: FakeTwilio, session: Session, staff: dict[str, str]
) -> None:
    missing = "https://api.twilio.com/2010-04-01/Accounts/AC0/Messages/MM1/Media/MEgone"
    elsewhere = "https://evil.example.com/receipt.png"
    form = inbound_form(ANA, "", NumMedia="2", MediaUrl0=missing, MediaContentType0="image/png",
                        MediaUrl1=elsewhere, MediaContentType1="image/png")  # fmt: skip
    assert post(client, form) == 200
    settle(whatsapp)
    (message,) = inbound(session)
    assert [m["status"] for m in message.media] == ["failed", "failed"]
    assert "404" in message.media[0]["error"] and "fora da Twilio" in message.media[1]["error"]
    assert fake_twilio.bodies_to(ANA) == [texts.MEDIA_RECEIVED]
    conversation = session.get(Conversation, message.conversation_id)
    assert conversation is not None
    r = client.get(f"/api/conversations/{conversation.public_id}/media/{message.id}/0", headers=staff)
    assert r.status_code == 404 and "failed" in r.json()["detail"]


def test_types_outside_the_allow_list_and_oversized_files_are_refused(
    client: TestClient, whatsapp: Container, fake_twilio: FakeTwilio, session: Session
) -> None:
    whatsapp.settings.media_max_bytes = 1000
    whatsapp._media = None  # rebuilt with the new limit
    post(client, media_form(fake_twilio, (b"\x00" * 50, "video/mp4")))
    settle(whatsapp)
    post(client, media_form(fake_twilio, (PDF + b"x" * 2000, "application/pdf")))
    settle(whatsapp)
    post(client, media_form(fake_twilio, (b"<html>not a png</html>", "image/png")))
    settle(whatsapp)
    video, big, fake_png = (m.media[0] for m in inbound(session))
    assert (video["status"], video["error"]) == ("refused", "tipo de arquivo não aceito: video/mp4")
    assert big["status"] == "refused" and "maior que 1000 bytes" in big["error"]
    assert fake_png["status"] == "refused" and "não corresponde" in fake_png["error"]
    assert fake_twilio.bodies_to(ANA) == [texts.MEDIA_REFUSED] * 3
    assert not list(Path(whatsapp.settings.media_dir).rglob("*.*"))
    # The refused video was never even downloaded.
    assert len([p for p, _u in fake_twilio.media_fetches if not p.startswith("/cdn/")]) == 2


def test_with_a_collector_the_file_is_still_stored_for_them(
    client: TestClient, whatsapp: Container, fake_twilio: FakeTwilio, dialogue: EchoDialogue, session: Session
) -> None:
    post(client, inbound_form(ANA, "oi"))
    settle(whatsapp)
    conversation = session.scalar(select(Conversation))
    assert conversation is not None
    conversation.state = ConversationState.WITH_HUMAN
    session.commit()
    post(client, media_form(fake_twilio, (PNG, "image/png")))
    settle(whatsapp)
    assert inbound(session)[-1].media[0]["status"] == "stored"
    assert len(fake_twilio.sent) == 1  # the collector answers, not the bot


def test_the_webhook_is_acknowledged_before_any_download(
    client: TestClient, whatsapp: Container, fake_twilio: FakeTwilio, session: Session
) -> None:
    """The ack stores the announcement only; the turn (on its threads) fetches the file."""
    whatsapp.turns.close()
    whatsapp.turns = TurnRunner(workers=1)  # one turn thread, kept busy for a moment
    gate = threading.Event()

    def busy() -> bool:
        gate.wait(10)
        return False  # nothing more to run

    whatsapp.turns.schedule("busy", busy)
    form = media_form(fake_twilio, (PNG, "image/png"))
    try:
        assert post(client, form) == 200
        (message,) = inbound(session)
        assert message.media == [{"url": form["MediaUrl0"], "content_type": "image/png"}]
        assert fake_twilio.media_fetches == []
    finally:
        gate.set()
    settle(whatsapp)
    assert inbound(session)[0].media[0]["status"] == "stored"
