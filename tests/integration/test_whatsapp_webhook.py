"""WhatsApp inbound webhook and status callbacks, against the fake Twilio, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import texts
from bot.dialogue import BotReply, Button
from server.container import Container
from server.db.models import Author, Conversation, ConversationState, Direction, Message, Processing
from tests.fakes import EchoDialogue
from tests.fakes_twilio import PUBLIC_BASE_URL, FakeTwilio, inbound_form, sign, signed_post

ANA = "+5531991234567"
pytestmark = pytest.mark.usefixtures("whatsapp")


def post(client: TestClient, form: dict[str, str], path: str = "/channels/whatsapp") -> httpx.Response:
    body, headers = signed_post(form, path)
    return client.post(path, content=body, headers=headers)


def settle(container: Container) -> None:
    """Wait until the scheduled turns have run (they run on the turn threads)."""
    assert container.turns.wait_idle(30)


def messages(session: Session) -> list[Message]:
    session.expire_all()
    return list(session.scalars(select(Message).order_by(Message.id)))


# -- signatures ---------------------------------------------------------------------------


def test_signed_message_is_acknowledged_with_empty_twiml_and_answered(
    client: TestClient, whatsapp: Container, fake_twilio: FakeTwilio, dialogue: EchoDialogue
) -> None:
    r = post(client, inbound_form(ANA, "oi"))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/xml")
    assert r.text.endswith("<Response/>")
    settle(whatsapp)
    assert [call[1] for call in dialogue.calls] == ["oi"]
    (sent,) = fake_twilio.sent
    assert sent["to"] == f"whatsapp:{ANA}" and sent["from"] == "whatsapp:+551140028922"
    assert sent["body"] == "eco: oi\n\n1. Sim"
    assert sent["status_callback"] == f"{PUBLIC_BASE_URL}/channels/whatsapp/status"


@pytest.mark.parametrize(
    "headers",
    [
        {},  # missing
        {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"},  # wrong
        # Signed for the internal URL the server sees, not the public one Twilio calls.
        {"X-Twilio-Signature": sign("http://testserver/channels/whatsapp", inbound_form(ANA, "oi", "SM1"))},
    ],
    ids=["missing", "wrong", "internal-url"],
)
def test_missing_or_wrong_signature_is_403_and_stores_nothing(
    client: TestClient, session: Session, dialogue: EchoDialogue, headers: dict[str, str]
) -> None:
    form = inbound_form(ANA, "oi", "SM1")
    r = client.post(
        "/channels/whatsapp",
        content=urlencode(form),
        headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
    )
    assert r.status_code == 403
    assert messages(session) == [] and dialogue.calls == []


def test_tampered_body_fails_the_signature(client: TestClient) -> None:
    form = inbound_form(ANA, "oi")
    body, headers = signed_post(form)
    r = client.post("/channels/whatsapp", content=body.replace(b"Body=oi", b"Body=tchau"), headers=headers)
    assert r.status_code == 403


def test_query_string_is_part_of_the_signed_url(client: TestClient, whatsapp: Container) -> None:
    form = inbound_form(ANA, "oi")
    path = "/channels/whatsapp?tenant=horizonte"
    body, headers = signed_post(form, path)
    assert client.post(path, content=body, headers=headers).status_code == 200
    body, headers = signed_post(form, "/channels/whatsapp")  # signed without the query
    assert client.post(path, content=body, headers=headers).status_code == 403


def test_channel_without_credentials_is_off(client: TestClient, whatsapp: Container) -> None:
    whatsapp.settings.twilio_auth_token = None
    assert post(client, inbound_form(ANA, "oi")).status_code == 404
    assert (
        post(client, {"MessageSid": "SM1", "MessageStatus": "read"}, "/channels/whatsapp/status").status_code
        == 404
    )


# -- idempotency and ordering -----------------------------------------------------------


def test_same_message_sid_three_times_runs_one_turn_with_one_reply(
    client: TestClient, whatsapp: Container, fake_twilio: FakeTwilio, dialogue: EchoDialogue, session: Session
) -> None:
    form = inbound_form(ANA, "quanto devo?", "SMretried000000000000000000000001")
    for _ in range(3):
        assert post(client, form).status_code == 200
    settle(whatsapp)
    assert len(dialogue.calls) == 1
    assert len(fake_twilio.sent) == 1
    inbound = [m for m in messages(session) if m.direction == Direction.INBOUND]
    assert len(inbound) == 1 and inbound[0].processing == Processing.PROCESSED


class SlowEchoDialogue(EchoDialogue):
    """Takes a while per turn and notes how many turns of one sender overlap."""

    def __init__(self) -> None:
        super().__init__()
        self._guard = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0

    def send(self, sender: str, text: str, metadata: dict[str, Any]) -> list[BotReply]:
        with self._guard:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            time.sleep(0.05)  # long enough for the other webhooks to arrive meanwhile
            return super().send(sender, text, metadata)
        finally:
            with self._guard:
                self.in_flight -= 1


@pytest.fixture
def dialogue() -> EchoDialogue:
    return SlowEchoDialogue()


def test_five_concurrent_messages_from_one_sender_run_one_at_a_time_in_arrival_order(
    client: TestClient,
    whatsapp: Container,
    fake_twilio: FakeTwilio,
    dialogue: SlowEchoDialogue,
    session: Session,
) -> None:
    words = ["um", "dois", "três", "quatro", "cinco"]
    with ThreadPoolExecutor(5) as pool:
        statuses = list(pool.map(lambda w: post(client, inbound_form(ANA, w)).status_code, words))
    assert statuses == [200] * 5
    settle(whatsapp)
    arrival = [m.text for m in messages(session) if m.direction == Direction.INBOUND]
    assert sorted(arrival) == sorted(words)
    assert [call[1] for call in dialogue.calls] == arrival  # turns in arrival (id) order
    assert dialogue.max_in_flight == 1  # never two turns of one sender at once
    assert fake_twilio.bodies_to(ANA) == [f"eco: {w}\n\n1. Sim" for w in arrival]


# -- numbered options -------------------------------------------------------------------


def test_a_typed_number_means_that_button_of_the_last_options_sent(
    client: TestClient, whatsapp: Container, dialogue: EchoDialogue, session: Session
) -> None:
    post(client, inbound_form(ANA, "oi"))
    settle(whatsapp)
    post(client, inbound_form(ANA, "opção 1"))
    settle(whatsapp)
    post(client, inbound_form(ANA, "3"))  # no third option: passed on as typed
    settle(whatsapp)
    assert [call[1] for call in dialogue.calls] == ["oi", "/affirm", "3"]
    typed = [m for m in messages(session) if m.direction == Direction.INBOUND][1]
    assert typed.text == "opção 1" and typed.payload == {"resolved": "/affirm", "engine_attempts": 1}


# -- content other than text -------------------------------------------------------------


def test_media_is_stored_and_acknowledged_without_a_dialogue_turn(
    client: TestClient, whatsapp: Container, fake_twilio: FakeTwilio, dialogue: EchoDialogue, session: Session
) -> None:
    media_url = "https://api.twilio.com/2010-04-01/Accounts/AC0/Messages/MM1/Media/ME1"
    form = inbound_form(ANA, "", NumMedia="1", MediaUrl0=media_url, MediaContentType0="application/pdf")
    assert post(client, form).status_code == 200
    settle(whatsapp)
    inbound = messages(session)[0]
    (entry,) = inbound.media  # the fake Twilio has no such media: recorded as not downloaded
    assert (entry["url"], entry["content_type"], entry["status"]) == (media_url, "application/pdf", "failed")
    assert inbound.payload == {"kind": "media"}
    assert dialogue.calls == []
    assert fake_twilio.bodies_to(ANA) == [texts.MEDIA_RECEIVED]


def test_media_with_a_caption_is_acknowledged_and_the_caption_goes_to_the_dialogue(
    client: TestClient, whatsapp: Container, fake_twilio: FakeTwilio, dialogue: EchoDialogue
) -> None:
    form = inbound_form(
        ANA, "segue o comprovante", NumMedia="1", MediaUrl0="https://x/1", MediaContentType0="image/jpeg"
    )
    post(client, form)
    settle(whatsapp)
    assert [call[1] for call in dialogue.calls] == ["segue o comprovante"]
    assert fake_twilio.bodies_to(ANA) == [texts.MEDIA_RECEIVED, "eco: segue o comprovante\n\n1. Sim"]


@pytest.mark.parametrize(
    "extra",
    [
        {"Latitude": "-19.93", "Longitude": "-43.94", "MessageType": "location"},
        {"NumMedia": "1", "MediaUrl0": "https://x/v", "MediaContentType0": "text/vcard"},
        {"MessageType": "reaction"},
    ],
    ids=["location", "contacts", "other"],
)
def test_locations_contacts_and_other_types_get_a_polite_answer(
    client: TestClient,
    whatsapp: Container,
    fake_twilio: FakeTwilio,
    dialogue: EchoDialogue,
    extra: dict[str, str],
) -> None:
    assert post(client, inbound_form(ANA, "", **extra)).status_code == 200
    settle(whatsapp)
    assert dialogue.calls == []
    assert fake_twilio.bodies_to(ANA) == [texts.UNSUPPORTED_CONTENT]


def test_with_a_collector_the_media_waits_for_them_and_nothing_is_sent(
    client: TestClient, whatsapp: Container, fake_twilio: FakeTwilio, dialogue: EchoDialogue, session: Session
) -> None:
    post(client, inbound_form(ANA, "oi"))
    settle(whatsapp)
    conversation = session.scalar(select(Conversation))
    assert conversation is not None
    conversation.state = ConversationState.WITH_HUMAN
    session.commit()
    post(client, inbound_form(ANA, "", NumMedia="1", MediaUrl0="https://x/2", MediaContentType0="image/png"))
    settle(whatsapp)
    assert len(dialogue.calls) == 1 and len(fake_twilio.sent) == 1
    (entry,) = messages(session)[-1].media
    assert (entry["url"], entry["content_type"]) == ("https://x/2", "image/png")


# -- bad input ----------------------------------------------------------------------------


def test_body_over_64_kib_is_413(client: TestClient, session: Session) -> None:
    form = inbound_form(ANA, "x" * (64 * 1024))
    assert post(client, form).status_code == 413
    assert messages(session) == []


@pytest.mark.parametrize(
    "content, content_type",
    [
        (b"MessageSid=SM1&&From", "application/x-www-form-urlencoded"),
        (b'{"MessageSid": "SM1"}', "application/json"),
    ],
    ids=["malformed-form", "json"],
)
def test_malformed_bodies_are_400(client: TestClient, content: bytes, content_type: str) -> None:
    r = client.post(
        "/channels/whatsapp",
        content=content,
        headers={"Content-Type": content_type, "X-Twilio-Signature": "x"},
    )
    assert r.status_code == 400


@pytest.mark.parametrize(
    "form",
    [
        {"From": f"whatsapp:{ANA}", "Body": "oi"},  # no MessageSid
        inbound_form("abc", "oi"),  # not a phone
    ],
    ids=["no-sid", "bad-sender"],
)
def test_signed_but_incomplete_messages_are_400(client: TestClient, form: dict[str, str]) -> None:
    assert post(client, form).status_code == 400


def test_non_utf8_text_is_kept_with_replacement_characters(
    client: TestClient, whatsapp: Container, dialogue: EchoDialogue, session: Session
) -> None:
    form = inbound_form(ANA, "caf\ufffd")  # what the server decodes the stray byte to
    body = urlencode(form).encode().replace(b"caf%EF%BF%BD", b"caf%E9")  # Latin-1 "é"
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": sign(PUBLIC_BASE_URL + "/channels/whatsapp", form),
    }
    assert client.post("/channels/whatsapp", content=body, headers=headers).status_code == 200
    settle(whatsapp)
    assert messages(session)[0].text == "caf\ufffd"


@pytest.mark.parametrize("text", ["😀🙏🏽", "muito " * 8000], ids=["emoji-only", "very-long"])
def test_emoji_only_and_very_long_texts_run_a_turn(
    client: TestClient, whatsapp: Container, dialogue: EchoDialogue, session: Session, text: str
) -> None:
    assert post(client, inbound_form(ANA, text)).status_code == 200
    settle(whatsapp)
    assert messages(session)[0].text == text  # stored whole
    assert dialogue.calls[0][1] == text[:4096]


def test_unknown_and_foreign_senders_are_flagged_unknown_to_the_dialogue(
    client: TestClient,
    whatsapp: Container,
    dialogue: EchoDialogue,
    session: Session,
    portfolio: dict[str, int],
) -> None:
    for phone in ("+5521988887777", "+14155550100", ANA):
        assert post(client, inbound_form(phone, "oi")).status_code == 200
    settle(whatsapp)
    address = {c.public_id: c.address for c in session.scalars(select(Conversation))}
    known = {address[sender]: metadata["known_sender"] for sender, _text, metadata in dialogue.calls}
    assert known == {"+5521988887777": False, "+14155550100": False, ANA: True}
    assert all(call[2]["channel"] == "whatsapp" for call in dialogue.calls)


# -- status callbacks ---------------------------------------------------------------------


def _status(client: TestClient, sid: str, status: str, **extra: str) -> int:
    form = {"MessageSid": sid, "SmsSid": sid, "MessageStatus": status, "AccountSid": "AC0", **extra}
    return post(client, form, "/channels/whatsapp/status").status_code


def test_status_callbacks_update_the_message_and_a_late_sent_does_not_undo_read(
    client: TestClient, whatsapp: Container, fake_twilio: FakeTwilio, session: Session
) -> None:
    post(client, inbound_form(ANA, "oi"))
    settle(whatsapp)
    sid = str(fake_twilio.sent[0]["sid"])
    reply = messages(session)[-1]
    assert (reply.provider_message_id, reply.status, reply.attempts) == (sid, "queued", 1)
    for status, expected in [
        ("sent", "sent"),
        ("delivered", "delivered"),
        ("read", "read"),
        ("sent", "read"),
    ]:
        assert _status(client, sid, status) in (200, 204)
        assert messages(session)[-1].status == expected


def test_failed_status_records_the_error_code(
    client: TestClient, whatsapp: Container, fake_twilio: FakeTwilio, session: Session
) -> None:
    post(client, inbound_form(ANA, "oi"))
    settle(whatsapp)
    sid = str(fake_twilio.sent[0]["sid"])
    _status(client, sid, "undelivered", ErrorCode="63024")
    reply = messages(session)[-1]
    assert (reply.status, reply.error_code) == ("undelivered", "63024")


def test_status_callbacks_must_be_signed_and_complete(client: TestClient) -> None:
    r = client.post(
        "/channels/whatsapp/status",
        content=b"MessageSid=SM1&MessageStatus=read",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 403
    assert post(client, {"MessageSid": "SM1"}, "/channels/whatsapp/status").status_code == 400
    assert _status(client, "SMunknown", "read") in (200, 204)  # not ours: acknowledged, ignored


def test_replies_record_the_inbound_they_answer(
    client: TestClient, whatsapp: Container, session: Session
) -> None:
    post(client, inbound_form(ANA, "oi"))
    settle(whatsapp)
    inbound, reply = messages(session)
    assert reply.reply_to_id == inbound.id and reply.author == Author.BOT
    assert BotReply.from_payload(reply.text, reply.payload).buttons == [Button("Sim", "/affirm")]


def test_pending_messages_run_oldest_first_even_when_accepted_together(
    whatsapp: Container, dialogue: EchoDialogue, session: Session
) -> None:
    """Several messages stored before any turn ran (a burst, or a restart): one drain runs them
    all, in the order they arrived, and marks each processed."""
    from bot.gateway import Inbound
    from server.db.models import Channel

    accepted = [
        whatsapp.gateway.accept(Inbound(Channel.WHATSAPP, ANA, text, f"SMorder{i}"))
        for i, text in enumerate(["um", "dois", "três", "quatro"])
    ]
    assert len({a.conversation_id for a in accepted}) == 1
    assert whatsapp.gateway.process_pending(accepted[0].conversation_id) == 4
    assert [call[1] for call in dialogue.calls] == ["um", "dois", "três", "quatro"]
    inbound = [m for m in messages(session) if m.direction == Direction.INBOUND]
    assert [m.processing for m in inbound] == [Processing.PROCESSED] * 4


def test_process_next_runs_one_turn_and_says_whether_more_wait(
    whatsapp: Container, dialogue: EchoDialogue, session: Session
) -> None:
    """What the turn pool calls: one turn per call, oldest first, True while another is pending."""
    from bot.gateway import Inbound
    from server.db.models import Channel

    accepted = [
        whatsapp.gateway.accept(Inbound(Channel.WHATSAPP, ANA, text, f"SMnext{i}"))
        for i, text in enumerate(["um", "dois", "três"])
    ]
    conversation = accepted[0].conversation_id
    assert [whatsapp.gateway.process_next(conversation) for _ in range(4)] == [True, True, False, False]
    assert [call[1] for call in dialogue.calls] == ["um", "dois", "três"]
    inbound = [m for m in messages(session) if m.direction == Direction.INBOUND]
    assert [m.processing for m in inbound] == [Processing.PROCESSED] * 3


def test_a_conversation_created_meanwhile_by_another_writer_is_used(
    whatsapp: Container, dialogue: EchoDialogue, session: Session
) -> None:
    """The first message of an address races another writer creating its conversation (a
    reminder, another server): the message is stored in that conversation, no error."""
    from bot.gateway import Gateway, Inbound
    from server.db.models import Channel

    class RacedGateway(Gateway):
        def _create_conversation(self, s: Session, channel: Channel, address: str) -> Conversation:
            with whatsapp.session_factory() as other:  # commits just before our insert
                other.add(Conversation(channel=channel, address=address))
                other.commit()
            return super()._create_conversation(s, channel, address)

    gateway = RacedGateway(
        whatsapp.session_factory, dialogue, whatsapp.locks, whatsapp.outbox, whatsapp.clock
    )
    accepted = gateway.accept(Inbound(Channel.WHATSAPP, ANA, "oi", "SMrace1"))
    assert accepted.message_id is not None and not accepted.duplicate
    (conversation,) = session.scalars(select(Conversation).where(Conversation.address == ANA))
    assert accepted.conversation_id == conversation.public_id
    assert [m.text for m in messages(session)] == ["oi"]
