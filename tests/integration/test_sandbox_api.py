from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import Author, Conversation, Direction, Message
from tests.fakes import EchoDialogue

ANA = "+5531991234567"


def test_turn_returns_replies_and_persists_both_sides(client: TestClient, session: Session) -> None:
    r = client.post("/channels/sandbox/messages", json={"sender": ANA, "text": "oi"})
    assert r.status_code == 200
    assert r.json() == {
        "messages": [
            {
                "text": "eco: oi",
                "buttons": [{"title": "Sim", "payload": "/affirm"}],
                "image": None,
                "document": None,
            }
        ]
    }
    messages = session.scalars(select(Message).order_by(Message.id)).all()
    assert [(m.direction, m.author, m.text) for m in messages] == [
        (Direction.INBOUND, Author.CONTACT, "oi"),
        (Direction.OUTBOUND, Author.BOT, "eco: oi"),
    ]


def test_rasa_gets_an_opaque_id_never_the_phone(
    client: TestClient, dialogue: EchoDialogue, session: Session, portfolio: dict[str, int]
) -> None:
    client.post("/channels/sandbox/messages", json={"sender": "(31) 99123-4567", "text": "oi"})
    client.post("/channels/sandbox/messages", json={"sender": ANA, "text": "tudo bem?"})
    senders = {call[0] for call in dialogue.calls}
    assert len(senders) == 1  # both writings of the phone are one conversation
    sender = senders.pop()
    assert "99123" not in sender and len(sender) == 32
    metadata = dialogue.calls[0][2]
    assert metadata.pop("negocia_message_id") > 0  # lets Rasa's launcher refuse a second turn
    assert metadata == {"channel": "sandbox", "known_sender": True}
    conversation = session.scalar(select(Conversation))
    assert conversation is not None and conversation.public_id == sender and conversation.address == ANA


def test_unknown_sender_is_flagged_to_the_dialogue(client: TestClient, dialogue: EchoDialogue) -> None:
    client.post("/channels/sandbox/messages", json={"sender": "+5521988887777", "text": "oi"})
    assert dialogue.calls[0][2]["known_sender"] is False


def test_history_lists_every_outbound_message_oldest_first(client: TestClient) -> None:
    for text in ("um", "dois"):
        client.post("/channels/sandbox/messages", json={"sender": ANA, "text": text})
    client.post("/channels/sandbox/messages", json={"sender": "+5521988887777", "text": "outro"})
    r = client.get("/channels/sandbox/messages", params={"recipient": ANA})
    assert r.status_code == 200
    assert [m["text"] for m in r.json()["messages"]] == ["eco: um", "eco: dois"]
    assert r.json()["messages"][0]["author"] == "bot"


def test_history_accepts_an_unencoded_plus(client: TestClient) -> None:
    client.post("/channels/sandbox/messages", json={"sender": ANA, "text": "oi"})
    r = client.get("/channels/sandbox/messages?recipient=+5531991234567")  # '+' arrives as a space
    assert [m["text"] for m in r.json()["messages"]] == ["eco: oi"]


def test_dialogue_down_keeps_the_inbound_and_apologises(
    client: TestClient, dialogue: EchoDialogue, session: Session
) -> None:
    dialogue.available = False
    r = client.post("/channels/sandbox/messages", json={"sender": ANA, "text": "quanto devo?"})
    assert r.status_code == 200
    assert "indisponível" in r.json()["messages"][0]["text"]
    texts = [(m.author, m.text) for m in session.scalars(select(Message).order_by(Message.id))]
    assert texts[0] == (Author.CONTACT, "quanto devo?")
    assert texts[1][0] == Author.SYSTEM


@pytest.mark.parametrize(
    "body, field, fragment",
    [
        ({"sender": ANA, "text": ""}, "text", "vazio"),
        ({"sender": ANA, "text": "   "}, "text", "vazio"),
        ({"sender": ANA, "text": "x" * 4097}, "text", "4097"),
        ({"sender": "abc", "text": "oi"}, "sender", "telefone inválido"),
        ({"sender": "+1 415 555 0100", "text": "oi"}, "sender", "Brasil"),
        ({"text": "oi"}, "sender", "obrigatório"),
    ],
)
def test_bad_input_is_422_with_reason_and_reaches_nobody(
    client: TestClient, dialogue: EchoDialogue, session: Session, body: dict, field: str, fragment: str
) -> None:
    r = client.post("/channels/sandbox/messages", json=body)
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert any(d["field"] == field and fragment in d["message"] for d in detail), detail
    assert dialogue.calls == []
    assert session.scalar(select(Message)) is None


def test_text_of_exactly_4096_chars_is_accepted(client: TestClient) -> None:
    r = client.post("/channels/sandbox/messages", json={"sender": ANA, "text": "x" * 4096})
    assert r.status_code == 200


def test_malformed_json_is_422(client: TestClient) -> None:
    r = client.post(
        "/channels/sandbox/messages", content=b'{"sender": ', headers={"content-type": "application/json"}
    )
    assert r.status_code == 422
    assert "JSON inválido" in r.json()["detail"][0]["message"]


def test_history_with_bad_phone_is_422(client: TestClient) -> None:
    r = client.get("/channels/sandbox/messages", params={"recipient": "xyz"})
    assert r.status_code == 422


def test_health_and_readiness(client: TestClient, dialogue: EchoDialogue) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {
        "database": True,
        "rasa": True,
        "actions": True,
    }
    dialogue.available = False
    not_ready = client.get("/readyz")
    assert not_ready.status_code == 503 and not_ready.json()["checks"]["rasa"] is False


def test_sandbox_page_lists_demo_contacts(client: TestClient, portfolio: dict[str, int]) -> None:
    r = client.get("/sandbox")
    assert r.status_code == 200
    assert "Ana Souza" in r.text and "+5531991234567" in r.text and "12345678" in r.text


def test_sandbox_can_be_turned_off(client: TestClient, container) -> None:  # type: ignore[no-untyped-def]
    container.settings.sandbox_enabled = False
    assert client.get("/sandbox").status_code == 404
    assert client.post("/channels/sandbox/messages", json={"sender": ANA, "text": "oi"}).status_code == 404
