"""Telegram webhook end to end inside the server: secret header, de-duplication by update_id,
identity linking by shared contact, buttons, media, bad input; against the fake Bot API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import texts
from bot.dialogue import BotReply
from server.db.models import Channel, Contact, Conversation, Direction, Message
from server.settings import Settings
from tests.fakes import EchoDialogue
from tests.fakes_telegram import (
    FakeTelegram,
    callback_update,
    contact_update,
    next_update_id,
    photo_update,
    running_fake,
    text_update,
)
from tests.integration.conftest import SERVICE_TOKEN

SECRET = "s3cr3t-t0ken_for-tests"
HEADERS = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
ANA_PHONE = "+5531991234567"
ANA_TG = 5_001
MALLORY_TG = 5_002


class MediaDialogue(EchoDialogue):
    """Echo, except 'pix' answers like the agreement does: the QR image and the term PDF."""

    def send(self, sender: str, text: str, metadata: dict[str, Any]) -> list[BotReply]:
        if text == "pix":
            self.calls.append((sender, text, metadata))
            return [
                BotReply("Código PIX abaixo."),
                BotReply("QR Code do PIX", image="https://negocia.example/q/qr.png"),
                BotReply("Termo de acordo", document="https://negocia.example/t/termo.pdf"),
            ]
        return super().send(sender, text, metadata)


@pytest.fixture
def fake_telegram() -> Iterator[FakeTelegram]:
    with running_fake() as fake:
        yield fake


@pytest.fixture
def dialogue() -> MediaDialogue:
    return MediaDialogue()


@pytest.fixture
def settings(database_url: str, fake_telegram: FakeTelegram, tmp_path: Path) -> Settings:
    return Settings(  # type: ignore[call-arg]
        database_url=database_url,
        service_token=SERVICE_TOKEN,
        media_dir=tmp_path / "media",
        telegram_bot_token=fake_telegram.token,
        telegram_secret_token=SECRET,
        telegram_api_base_url=fake_telegram.base_url,
        _env_file=None,
    )


@pytest.fixture
def container(container, fake_telegram: FakeTelegram, settings: Settings):  # type: ignore[no-untyped-def]
    from bot.channels.telegram import TelegramChannel

    channel = TelegramChannel(fake_telegram.token, fake_telegram.base_url)
    container.channels[Channel.TELEGRAM] = channel
    yield container
    channel.close()


def post(client: TestClient, update: dict[str, Any], headers: dict[str, str] | None = None) -> int:
    return client.post(
        "/channels/telegram", json=update, headers=HEADERS if headers is None else headers
    ).status_code


def link_ana(client: TestClient, fake: FakeTelegram) -> None:
    before = len(fake.sent_to(ANA_TG))
    assert post(client, contact_update(ANA_TG, ANA_PHONE.lstrip("+"), ANA_TG)) == 200
    fake.wait_sent(ANA_TG, before + 2)  # "telefone recebido" and the dialogue's greeting


def texts_to(fake: FakeTelegram, chat_id: int) -> list[str]:
    return [c.params.get("text") or c.params.get("caption") or "" for c in fake.sent_to(chat_id)]


def test_bot_initialises_against_the_configured_api(client: TestClient, fake_telegram: FakeTelegram) -> None:
    assert fake_telegram.calls_to("getMe")  # PTB's initialize(), against the fake base URL


@pytest.mark.parametrize("headers", [{}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}])
def test_missing_or_wrong_secret_is_refused(
    client: TestClient, fake_telegram: FakeTelegram, dialogue: EchoDialogue, headers: dict[str, str]
) -> None:
    assert post(client, text_update(ANA_TG, "oi"), headers) == 403
    assert client.post("/channels/telegram", content=b"not json", headers=headers).status_code == 403


def test_valid_secret_is_accepted_and_an_unlinked_chat_is_asked_for_its_phone(
    client: TestClient, fake_telegram: FakeTelegram, dialogue: EchoDialogue, session: Session
) -> None:
    assert post(client, text_update(ANA_TG, "oi, quanto eu devo?")) == 200
    [sent] = fake_telegram.wait_sent(ANA_TG, 1)
    assert sent.method == "sendMessage"
    assert "compartilhe o número de telefone" in sent.params["text"]
    assert "Horizonte Distribuidora" in sent.params["text"]
    keyboard = sent.params["reply_markup"]["keyboard"]
    assert keyboard == [[{"text": texts.TELEGRAM_SHARE_PHONE_BUTTON, "request_contact": True}]]
    assert dialogue.calls == []  # the dialogue never sees an unlinked chat
    conversation = session.scalar(select(Conversation).where(Conversation.channel == Channel.TELEGRAM))
    assert conversation is not None and conversation.address == str(ANA_TG)


def test_own_contact_links_the_chat_and_the_dialogue_asks_for_the_cnpj_root(
    client: TestClient,
    fake_telegram: FakeTelegram,
    dialogue: EchoDialogue,
    session: Session,
    portfolio: dict[str, int],
) -> None:
    post(client, text_update(ANA_TG, "oi"))
    fake_telegram.wait_sent(ANA_TG, 1)
    link_ana(client, fake_telegram)
    assert texts_to(fake_telegram, ANA_TG)[1:] == [texts.TELEGRAM_PHONE_LINKED, "eco: /greet"]
    # The linking reply takes the contact-request keyboard away again.
    assert fake_telegram.sent_to(ANA_TG)[1].params["reply_markup"] == {"remove_keyboard": True}
    contact = session.get(Contact, portfolio["ana"])
    assert contact is not None and contact.telegram_user_id == ANA_TG
    sender, text, metadata = dialogue.calls[0]
    assert text == "/greet" and metadata["channel"] == "telegram" and metadata["known_sender"] is True
    assert str(ANA_TG) not in sender  # Rasa gets the opaque id
    # Linked, but not verified: the CNPJ-root check is still the dialogue's next step.
    conversation = session.scalar(select(Conversation).where(Conversation.address == str(ANA_TG)))
    assert conversation is not None and conversation.verified_at is None

    post(client, text_update(ANA_TG, "12.345.678"))
    fake_telegram.wait_sent(ANA_TG, 4)
    assert dialogue.calls[-1][1] == "12.345.678"


def test_forwarded_contact_of_someone_else_links_nothing(
    client: TestClient,
    fake_telegram: FakeTelegram,
    dialogue: EchoDialogue,
    session: Session,
    portfolio: dict[str, int],
) -> None:
    # Mallory forwards Ana's card (its user_id is Ana's), then a card with no Telegram account.
    assert post(client, contact_update(MALLORY_TG, ANA_PHONE, ANA_TG)) == 200
    assert post(client, contact_update(MALLORY_TG, ANA_PHONE, None)) == 200
    sent = fake_telegram.wait_sent(MALLORY_TG, 2)
    for call in sent:
        assert "só posso usar o seu próprio número" in call.params["text"]
        assert call.params["reply_markup"]["keyboard"][0][0]["request_contact"] is True
        assert "Mercado" not in call.params["text"] and "R$" not in call.params["text"]
    session.expire_all()
    assert session.get(Contact, portfolio["ana"]).telegram_user_id is None  # type: ignore[union-attr]
    post(client, text_update(MALLORY_TG, "quanto a Ana deve?"))
    fake_telegram.wait_sent(MALLORY_TG, 3)
    assert dialogue.calls == []  # still unlinked: asked for the phone again


def test_own_contact_with_an_unknown_phone_learns_nothing(
    client: TestClient,
    fake_telegram: FakeTelegram,
    dialogue: EchoDialogue,
    session: Session,
    portfolio: dict[str, int],
) -> None:
    post(client, contact_update(MALLORY_TG, "+5521977776666", MALLORY_TG))
    [sent] = fake_telegram.wait_sent(MALLORY_TG, 1)
    assert "Não encontrei este número" in sent.params["text"]
    assert "Mercado" not in sent.params["text"] and "R$" not in sent.params["text"]
    assert dialogue.calls == []
    assert session.scalar(select(Contact).where(Contact.telegram_user_id.is_not(None))) is None


def test_a_recycled_number_moves_the_link_and_drops_the_old_verification(
    client: TestClient, fake_telegram: FakeTelegram, session: Session, portfolio: dict[str, int]
) -> None:
    link_ana(client, fake_telegram)
    old = session.scalar(select(Conversation).where(Conversation.address == str(ANA_TG)))
    assert old is not None
    old.contact_id = portfolio["ana"]  # as if Ana had confirmed the CNPJ root
    old.verified_at = old.created_at
    session.commit()
    # The number now belongs to another Telegram account, which shares it as its own.
    post(client, contact_update(MALLORY_TG, ANA_PHONE, MALLORY_TG))
    fake_telegram.wait_sent(MALLORY_TG, 2)
    session.expire_all()
    assert session.get(Contact, portfolio["ana"]).telegram_user_id == MALLORY_TG  # type: ignore[union-attr]
    old = session.scalar(select(Conversation).where(Conversation.address == str(ANA_TG)))
    assert old is not None and old.contact_id is None and old.verified_at is None


def test_the_same_update_twice_runs_one_turn(
    client: TestClient,
    fake_telegram: FakeTelegram,
    dialogue: EchoDialogue,
    session: Session,
    portfolio: dict[str, int],
) -> None:
    link_ana(client, fake_telegram)
    update = text_update(ANA_TG, "quanto eu devo?")
    assert post(client, update) == 200
    assert post(client, update) == 200  # Telegram re-sends when it saw no 200 in time
    post(client, text_update(ANA_TG, "obrigado"))  # ordered after both copies in this chat
    sent = fake_telegram.wait_sent(ANA_TG, 4)
    assert [c.params["text"] for c in sent[2:]] == ["eco: quanto eu devo?", "eco: obrigado"]
    assert [call[1] for call in dialogue.calls] == ["/greet", "quanto eu devo?", "obrigado"]
    inbound = session.scalars(
        select(Message.text).where(Message.direction == Direction.INBOUND, Message.text == "quanto eu devo?")
    ).all()
    assert len(inbound) == 1


def test_a_duplicate_contact_update_links_and_greets_once(
    client: TestClient, fake_telegram: FakeTelegram, dialogue: EchoDialogue, portfolio: dict[str, int]
) -> None:
    update = contact_update(ANA_TG, ANA_PHONE, ANA_TG)
    post(client, update)
    post(client, update)
    post(client, text_update(ANA_TG, "oi"))
    fake_telegram.wait_sent(ANA_TG, 3)
    assert texts_to(fake_telegram, ANA_TG) == [texts.TELEGRAM_PHONE_LINKED, "eco: /greet", "eco: oi"]


def test_options_are_an_inline_keyboard_and_a_press_is_the_payload_turn(
    client: TestClient, fake_telegram: FakeTelegram, dialogue: EchoDialogue, portfolio: dict[str, int]
) -> None:
    link_ana(client, fake_telegram)
    greeting = fake_telegram.sent_to(ANA_TG)[-1]
    assert greeting.params["reply_markup"] == {
        "inline_keyboard": [[{"text": "Sim", "callback_data": "/affirm"}]]
    }
    press = callback_update(ANA_TG, '/choose_option{"option": "cash"}')
    assert post(client, press) == 200
    fake_telegram.wait_sent(ANA_TG, 3)
    assert dialogue.calls[-1][1] == '/choose_option{"option": "cash"}'
    [answer] = fake_telegram.calls_to("answerCallbackQuery")
    assert answer.params["callback_query_id"] == press["callback_query"]["id"]


def test_pix_qr_and_term_go_as_photo_and_document(
    client: TestClient, fake_telegram: FakeTelegram, portfolio: dict[str, int]
) -> None:
    link_ana(client, fake_telegram)
    post(client, text_update(ANA_TG, "pix"))
    sent = fake_telegram.wait_sent(ANA_TG, 5)[2:]
    assert [c.method for c in sent] == ["sendMessage", "sendPhoto", "sendDocument"]
    assert sent[1].params["photo"] == "https://negocia.example/q/qr.png"
    assert sent[1].params["caption"] == "QR Code do PIX"
    assert sent[2].params["document"] == "https://negocia.example/t/termo.pdf"


def test_delivery_outcome_is_recorded_on_the_message(
    client: TestClient, fake_telegram: FakeTelegram, session: Session, portfolio: dict[str, int]
) -> None:
    link_ana(client, fake_telegram)
    fake_telegram.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
    post(client, text_update(ANA_TG, "ainda está aí?"))
    fake_telegram.wait_for(lambda: len(fake_telegram.calls_to("sendMessage", ANA_TG)) >= 3)

    def outbound() -> list[Message]:
        session.expire_all()
        return list(
            session.scalars(
                select(Message).where(Message.direction == Direction.OUTBOUND).order_by(Message.id)
            )
        )

    fake_telegram.wait_for(lambda: outbound()[-1].status != "pending")
    last = outbound()
    assert (last[-1].status, last[-1].error_code, last[-1].attempts) == ("failed", "403", 1)  # never retried
    assert last[0].status == "sent" and last[0].provider_message_id.startswith(f"tgm:{ANA_TG}:")  # type: ignore[union-attr]


# -- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"\xff\xfe\x00garbage",
        b"[1, 2, 3]",
        b'{"message": {"text": "oi"}}',  # no update_id
        b'{"update_id": "12"}',
        b'{"update_id": 12, "message": "oi"}',  # PTB cannot parse it
    ],
)
def test_malformed_bodies_are_400(client: TestClient, body: bytes) -> None:
    r = client.post(
        "/channels/telegram", content=body, headers={**HEADERS, "Content-Type": "application/json"}
    )
    assert r.status_code == 400, r.text


def test_a_body_over_64_kib_is_413(client: TestClient) -> None:
    big = json.dumps(text_update(ANA_TG, "a" * 70_000)).encode()
    assert client.post("/channels/telegram", content=big, headers=HEADERS).status_code == 413


def test_emoji_only_and_very_long_texts_are_ordinary_turns(
    client: TestClient, fake_telegram: FakeTelegram, dialogue: EchoDialogue, portfolio: dict[str, int]
) -> None:
    link_ana(client, fake_telegram)
    assert post(client, text_update(ANA_TG, "👍🙏")) == 200
    assert post(client, text_update(ANA_TG, "quero negociar " * 300)) == 200
    sent = fake_telegram.wait_sent(ANA_TG, 5)
    assert sent[2].params["text"] == "eco: 👍🙏"
    # An echo above Telegram's 4096 characters goes out in parts, the buttons under the last.
    assert len(sent) >= 5 and all(len(c.params["text"]) <= 4096 for c in sent)


def test_non_text_updates_are_answered_politely_or_ignored(
    client: TestClient,
    fake_telegram: FakeTelegram,
    dialogue: EchoDialogue,
    session: Session,
    portfolio: dict[str, int],
) -> None:
    link_ana(client, fake_telegram)
    assert post(client, photo_update(ANA_TG)) == 200  # a receipt
    sticker = text_update(ANA_TG, "x")
    del sticker["message"]["text"]
    sticker["message"]["sticker"] = {
        "file_id": "S1", "file_unique_id": "s1", "width": 1, "height": 1, "is_animated": False,
        "is_video": False, "type": "regular",
    }  # fmt: skip
    assert post(client, sticker) == 200
    edited = {"update_id": next_update_id(), "edited_message": text_update(ANA_TG, "editado")["message"]}
    assert post(client, edited) == 200
    group = text_update(ANA_TG, "oi grupo")
    group["message"]["chat"] = {"id": -100123, "type": "supergroup", "title": "Empresa"}
    assert post(client, group) == 200
    assert post(client, {"update_id": next_update_id()}) == 200  # a kind we do not subscribe to
    post(client, text_update(ANA_TG, "fim"))
    fake_telegram.wait_sent(ANA_TG, 5)
    sent = texts_to(fake_telegram, ANA_TG)
    assert sent[2:] == [texts.MEDIA_RECEIVED, texts.UNSUPPORTED_CONTENT, "eco: fim"]
    assert not fake_telegram.sent_to(-100123)
    kinds = session.scalars(select(Message.payload).where(Message.direction == Direction.INBOUND)).all()
    assert {"kind": "media"} in kinds


def test_channel_off_is_404(database_url: str, container, fake_telegram: FakeTelegram) -> None:  # type: ignore[no-untyped-def]
    from server.main import create_app

    container.settings = Settings(database_url=database_url, _env_file=None)  # type: ignore[call-arg]
    with TestClient(create_app(container=container)) as off:
        assert post(off, text_update(ANA_TG, "oi")) == 404
