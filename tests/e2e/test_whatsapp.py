"""A whole negotiation on WhatsApp: the real stack, signed webhooks, replies through the fake Twilio."""

from __future__ import annotations

import time
import uuid

import pytest

from server.domain.pix import parse_brcode
from tests.e2e.conftest import Stack
from tests.fakes_twilio import FakeTwilio, inbound_form, signed_post

pytestmark = pytest.mark.e2e

WANDA = "+5531970000009"
TURN_TIMEOUT_S = 60


def say(stack: Stack, twilio: FakeTwilio, phone: str, text: str, sid: str | None = None) -> list[str]:
    """Post a signed webhook and return the bodies Twilio was asked to send in reply to it."""
    sid = sid or "SM" + uuid.uuid4().hex
    body, headers = signed_post(inbound_form(phone, text, sid), base_url=stack.base_url)
    r = stack.client.post("/channels/whatsapp", content=body, headers=headers)
    assert r.status_code == 200 and r.text.endswith("<Response/>"), r.text
    deadline = time.monotonic() + TURN_TIMEOUT_S
    while True:  # the turn runs after the acknowledgement: wait for it to finish
        rows = stack.query("SELECT id, processing FROM messages WHERE provider_message_id = ?", sid)
        if rows and rows[0][1] == "processed":
            replies = stack.query(
                "SELECT provider_message_id, status FROM messages WHERE reply_to_id = ? ORDER BY id",
                rows[0][0],
            )
            if all(status != "pending" for _sid, status in replies):
                break
        assert time.monotonic() < deadline, f"turn of {text!r} did not finish"
        time.sleep(0.2)
    assert all(status == "queued" for _sid, status in replies), replies
    by_sid = {m["sid"]: str(m["body"]) for m in twilio.sent}
    return [by_sid[reply_sid] for reply_sid, _status in replies]


def test_negotiation_to_an_agreement_with_pix_code(stack: Stack, fake_twilio: FakeTwilio) -> None:
    greeting = "\n".join(say(stack, fake_twilio, WANDA, "oi"))
    assert "CNPJ" in greeting, greeting
    offers = "\n".join(say(stack, fake_twilio, WANDA, "90.909.090"))
    # Options as numbered lines: 2 500,00 + multa + juros = 2 575,00, half the 5 % discount first.
    assert "1. PIX à vista R$ 2.510,63" in offers, offers
    confirm = "\n".join(say(stack, fake_twilio, WANDA, "1"))  # the number means button 1
    assert "pagamento único via PIX de R$ 2.510,63" in confirm, confirm
    replies = say(stack, fake_twilio, WANDA, "sim")
    assert "Acordo fechado!" in "\n".join(replies)
    code = next(r for r in replies if r.startswith("000201"))  # the PIX code in a message of its own
    assert str(parse_brcode(code).amount) == "2510.63"
    assert stack.query(
        "SELECT a.channel FROM agreements a JOIN conversations c ON c.id = a.conversation_id WHERE c.address = ?",
        WANDA,
    ) == [("whatsapp",)]
    sent = [m for m in fake_twilio.sent if m["to"] == f"whatsapp:{WANDA}"]
    assert all(str(m["status_callback"]).endswith("/channels/whatsapp/status") for m in sent)


def test_a_retried_webhook_runs_no_second_turn(stack: Stack, fake_twilio: FakeTwilio) -> None:
    sid = "SM" + uuid.uuid4().hex
    first = say(stack, fake_twilio, "+5531991234567", "oi", sid)
    assert first
    assert say(stack, fake_twilio, "+5531991234567", "oi", sid) == first  # same replies, none new
    assert stack.query("SELECT count(*) FROM messages WHERE provider_message_id = ?", sid) == [(1,)]
