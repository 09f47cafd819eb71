"""Telegram attachments and other content of a linked chat: photos, PDFs and voice notes fetched
with getFile from the fake Bot API and stored; locations and others' contact cards answered
politely; emoji-only and very long texts; on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import texts
from server.container import Container
from server.db.models import Direction, Message
from tests.fakes_telegram import (
    FakeTelegram,
    document_update,
    location_update,
    photo_update,
    voice_update,
)
from tests.integration import test_telegram_webhook as tw
from tests.integration.test_telegram_webhook import ANA_TG, link_ana, post, texts_to

# The Telegram webhook module's fixtures: the fake Bot API, its settings and the container.
fake_telegram = tw.fake_telegram
settings = tw.settings
container = tw.container
dialogue = tw.dialogue

JPEG = b"\xff\xd8\xff\xe0" + bytes(500)
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\ntrailer<<>>\n%%EOF\n"
OGG = b"OggS" + bytes(120)


def inbound(session: Session) -> list[Message]:
    session.expire_all()
    stmt = select(Message).where(Message.direction == Direction.INBOUND).order_by(Message.id)
    return list(session.scalars(stmt))


def test_photo_document_and_voice_are_downloaded_and_stored(
    client: TestClient,
    container: Container,
    fake_telegram: FakeTelegram,
    session: Session,
    portfolio: dict[str, int],
) -> None:
    link_ana(client, fake_telegram)
    fake_telegram.add_file("AgAD1", JPEG, "image/jpeg", "photos/file_1.jpg")
    fake_telegram.add_file("DOC1", PDF, "application/pdf", "documents/file_2.pdf")
    fake_telegram.add_file("VOICE1", OGG, "audio/ogg", "voice/file_3.oga")
    assert post(client, photo_update(ANA_TG)) == 200
    assert post(client, document_update(ANA_TG, "DOC1", "application/pdf", "comprovante.pdf")) == 200
    assert post(client, voice_update(ANA_TG, "VOICE1")) == 200
    fake_telegram.wait_sent(ANA_TG, 5)
    assert texts_to(fake_telegram, ANA_TG)[2:] == [texts.MEDIA_RECEIVED] * 3
    photo, document, voice = (m.media[0] for m in inbound(session)[-3:])
    assert photo["file_id"] == "AgAD1"  # the largest of the photo's sizes
    for entry, content, kind in ((photo, JPEG, "image/jpeg"), (document, PDF, "application/pdf"),
                                 (voice, OGG, "audio/ogg")):  # fmt: skip
        assert (entry["status"], entry["content_type"], entry["size"]) == ("stored", kind, len(content))
        assert entry["sha256"] == hashlib.sha256(content).hexdigest()
        assert (container.settings.media_dir / entry["path"]).read_bytes() == content
    assert document["file_name"] == "comprovante.pdf"
    assert fake_telegram.file_downloads == ["photos/file_1.jpg", "documents/file_2.pdf", "voice/file_3.oga"]


def test_an_unknown_file_is_recorded_failed_and_a_video_refused(
    client: TestClient, fake_telegram: FakeTelegram, session: Session, portfolio: dict[str, int]
) -> None:
    link_ana(client, fake_telegram)
    assert post(client, document_update(ANA_TG, "GONE", "application/pdf", "x.pdf")) == 200
    assert post(client, document_update(ANA_TG, "VID", "video/mp4", "video.mp4")) == 200
    fake_telegram.wait_sent(ANA_TG, 4)
    assert texts_to(fake_telegram, ANA_TG)[2:] == [texts.MEDIA_RECEIVED, texts.MEDIA_REFUSED]
    gone, video = (m.media[0] for m in inbound(session)[-2:])
    assert gone["status"] == "failed" and "getFile" in gone["error"]
    assert video["status"] == "refused"
    assert not [c for c in fake_telegram.calls if c.method == "getFile" and c.params["file_id"] == "VID"]


def test_a_location_gets_a_polite_answer_and_is_kept_for_the_transcript(
    client: TestClient, fake_telegram: FakeTelegram, session: Session, portfolio: dict[str, int]
) -> None:
    link_ana(client, fake_telegram)
    assert post(client, location_update(ANA_TG)) == 200
    fake_telegram.wait_sent(ANA_TG, 3)
    assert texts_to(fake_telegram, ANA_TG)[2] == texts.UNSUPPORTED_CONTENT
    last = inbound(session)[-1]
    assert last.payload == {"kind": "location"} and last.text == "[localização: -19.93, -43.94]"
