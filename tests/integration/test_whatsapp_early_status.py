"""Status callbacks that reach us before our send recorded the MessageSid (Twilio may call back
before its REST response is processed): kept and applied when the send records the SID."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.dialogue import BotReply
from server.container import Container
from server.db.models import Author, Conversation, Direction, EarlyStatus, Message
from tests.fakes_twilio import FakeTwilio, Scripted, TwilioCall, inbound_form, signed_post

ANA = "+5531991234567"


def status(client: TestClient, sid: str, value: str, **extra: str) -> int:
    form = {"MessageSid": sid, "SmsSid": sid, "MessageStatus": value, "AccountSid": "AC0", **extra}
    body, headers = signed_post(form, "/channels/whatsapp/status")
    return client.post("/channels/whatsapp/status", content=body, headers=headers).status_code


def outbound(session: Session) -> list[Message]:
    session.expire_all()
    stmt = select(Message).where(Message.direction == Direction.OUTBOUND).order_by(Message.id)
    return list(session.scalars(stmt))


def early_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(EarlyStatus)) or 0)


def test_callbacks_during_the_send_are_applied_when_the_sid_is_recorded(
    client: TestClient, whatsapp: Container, fake_twilio: FakeTwilio, session: Session
) -> None:
    sid = "SM" + "e" * 32
    codes: list[int] = []

    def call_back_first(call: TwilioCall, body: dict[str, object]) -> None:
        # Inside Twilio, before the 201 reaches us: our row has no SID yet.
        if body.get("sid") == sid:
            codes.extend(status(client, sid, s) for s in ("sent", "delivered"))

    fake_twilio.before_answer = call_back_first
    fake_twilio.script(Scripted(201, {"sid": sid}))
    body, headers = signed_post(inbound_form(ANA, "oi"))
    assert client.post("/channels/whatsapp", content=body, headers=headers).status_code == 200
    assert whatsapp.turns.wait_idle(30)
    assert codes == [204, 204]
    (reply,) = outbound(session)
    assert (reply.provider_message_id, reply.status) == (sid, "delivered")
    assert early_count(session) == 0  # applied, then dropped


def test_an_early_failure_keeps_its_error_code_and_later_callbacks_still_apply(
    client: TestClient, whatsapp: Container, fake_twilio: FakeTwilio, session: Session
) -> None:
    sid = "SM" + "f" * 32
    assert status(client, sid, "undelivered", ErrorCode="63024") == 204
    assert early_count(session) == 1
    body, headers = signed_post(inbound_form(ANA, "oi"))  # opens the 24-hour window
    fake_twilio.script(Scripted(201, {"sid": "SM" + "0" * 32}))
    client.post("/channels/whatsapp", content=body, headers=headers)
    assert whatsapp.turns.wait_idle(30)
    fake_twilio.script(Scripted(201, {"sid": sid}))
    conversation_id = fake_conversation(session)
    whatsapp.outbox.deliver(conversation_id, [BotReply("segunda")], author=Author.BOT)
    reply = outbound(session)[-1]
    assert (reply.status, reply.error_code) == ("undelivered", "63024")
    assert early_count(session) == 0
    assert status(client, sid, "delivered") == 204  # a later report goes straight to the row
    assert outbound(session)[-1].status == "delivered"


def test_a_turns_replies_get_the_callbacks_that_came_while_later_replies_were_sent(
    client: TestClient, whatsapp: Container, fake_twilio: FakeTwilio, session: Session
) -> None:
    body, headers = signed_post(inbound_form(ANA, "oi"))  # opens the 24-hour window
    client.post("/channels/whatsapp", content=body, headers=headers)
    assert whatsapp.turns.wait_idle(30)
    first, second, third = ("SM" + c * 32 for c in "abc")

    def call_back(call: TwilioCall, body: dict[str, object]) -> None:
        if body.get("sid") == second:  # the first reply is sent, its outcome not yet written
            status(client, first, "delivered")
        if body.get("sid") == third:
            status(client, second, "read")

    fake_twilio.before_answer = call_back
    fake_twilio.script(
        Scripted(201, {"sid": first}), Scripted(201, {"sid": second}), Scripted(201, {"sid": third})
    )
    whatsapp.outbox.deliver(
        fake_conversation(session), [BotReply("um"), BotReply("dois"), BotReply("três")], author=Author.BOT
    )
    replies = [(m.text, m.provider_message_id, m.status) for m in outbound(session)[-3:]]
    assert replies == [("um", first, "delivered"), ("dois", second, "read"), ("três", third, "queued")]
    assert early_count(session) == 0


def test_callbacks_for_ids_that_never_become_ours_are_kept_only_as_early_statuses(
    client: TestClient, whatsapp: Container, session: Session
) -> None:
    assert status(client, "SMnotours", "read") == 204
    assert status(client, "SMnotours", "bogus-status") == 204  # unknown statuses are not kept
    assert early_count(session) == 1 and outbound(session) == []


def fake_conversation(session: Session) -> str:
    session.expire_all()
    conversation = session.scalar(select(Conversation))
    assert conversation is not None
    return conversation.public_id
