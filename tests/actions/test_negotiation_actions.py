"""Negotiation and handoff actions with CollectingDispatcher, against the live server."""

from __future__ import annotations

from typing import Any

from conftest import LiveServer
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import ActionCheckPayment, ActionFallback, ActionFlagDispute, ActionHandoff, ActionOptOut
from actions.identity import ValidateIdentityForm
from actions.negotiation import (
    ActionAcceptAgreement,
    ActionChooseOption,
    ActionMakeOffer,
    ActionNegotiate,
    ActionResume,
    ActionSecondCopy,
    chosen_option,
)
from actions.server_api import ServerApi


def tracker(
    sender: str,
    intent: str,
    text: str,
    slots: dict[str, Any] | None = None,
    entities: list[dict[str, Any]] | None = None,
    events: list[dict[str, Any]] | None = None,
) -> Tracker:
    return Tracker(
        sender_id=sender,
        slots={"identity_status": "verified", "negotiation_stage": "none", **(slots or {})},
        latest_message={"text": text, "intent": {"name": intent}, "entities": entities or [], "message_id": "m-1"},
        events=events or [], paused=False, followup_action=None, active_loop={},
        latest_action_name="action_listen",
    )  # fmt: skip


def slots_of(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def names(dispatcher: CollectingDispatcher) -> list[str]:
    return [m["response"] for m in dispatcher.messages]


async def verified(api: ServerApi, live_server: LiveServer, phone: str, root: str, domain: dict) -> str:
    sender = live_server.conversation_for(phone)
    t = Tracker(sender, {"cnpj_root": root, "requested_slot": "cnpj_root"}, {"text": root, "intent": {}},
                [{"event": "slot", "name": "cnpj_root", "value": root}], False, None, {"name": "identity_form"},
                "action_listen")  # fmt: skip
    await ValidateIdentityForm(api).run(CollectingDispatcher(), t, domain)
    return sender


async def test_offer_choose_confirm_accept(api: ServerApi, live_server: LiveServer, domain: dict) -> None:
    sender = await verified(api, live_server, "+5531991110001", "90214567", domain)
    d = CollectingDispatcher()
    events = await ActionMakeOffer(api).run(
        d, tracker(sender, "ask_payment_options", "quais as opções?"), domain
    )
    assert names(d) == ["utter_offer_intro", "utter_offer_options"]
    options = d.messages[1]
    assert next(b["payload"] for b in options["buttons"]) == '/choose_option{"option": "cash"}'
    assert "PIX à vista" in options["lines"] and "Parcelado" in options["lines"]
    slots = slots_of(events)
    assert slots["negotiation_stage"] == "offered" and slots["current_quote"]["step"] == 0

    # "a segunda" picks the second button: the installment plan.
    t = tracker(sender, "choose_option", "a segunda", slots)
    assert chosen_option(t) == "plan-1"
    d = CollectingDispatcher()
    events = await ActionChooseOption().run(d, t, domain)
    assert names(d) == ["utter_confirm_plan"] and slots_of(events)["pending_option"] == "plan-1"
    slots.update(slots_of(events))

    d = CollectingDispatcher()
    events = await ActionAcceptAgreement(api).run(d, tracker(sender, "affirm", "sim", slots), domain)
    assert names(d) == ["utter_agreement_done", "utter_pix_code", "utter_term_link"]
    assert d.messages[1]["pix_code"].startswith("000201") and "/public/agreements/" in d.messages[2]["url"]
    # The QR image goes with the code, the term PDF as a document (media on WhatsApp and Telegram).
    assert "/qr" in d.messages[1]["image"] and "sig=" in d.messages[1]["image"]
    assert d.messages[2]["custom"] == {"document": d.messages[2]["url"]}
    slots.update(slots_of(events))
    assert slots["negotiation_stage"] == "agreed" and slots["agreement_id"]

    d = CollectingDispatcher()
    await ActionSecondCopy(api).run(
        d, tracker(sender, "ask_second_copy", "manda o pix de novo", slots), domain
    )
    assert names(d) == ["utter_second_copy_intro", "utter_pix_code", "utter_term_link"]


async def test_refusals_then_handoff(api: ServerApi, live_server: LiveServer, domain: dict) -> None:
    sender = await verified(api, live_server, "+5531991110002", "55098712", domain)
    await ActionMakeOffer(api).run(
        CollectingDispatcher(), tracker(sender, "ask_payment_options", "opções"), domain
    )
    seen = []
    for _ in range(3):
        d = CollectingDispatcher()
        events = await ActionNegotiate(api).run(d, tracker(sender, "deny", "não"), domain)
        seen.append((names(d), slots_of(events).get("negotiation_stage")))
    assert seen[0] == (["utter_offer_improved", "utter_offer_options"], "offered")
    assert seen[1] == (["utter_offer_improved", "utter_offer_final", "utter_offer_options"], "offered")
    assert seen[2][0][0] in ("utter_handoff_now", "utter_handoff_later") and seen[2][1] == "none"


async def test_counter_offer_not_understood_and_accepted(
    api: ServerApi, live_server: LiveServer, domain: dict
) -> None:
    sender = await verified(api, live_server, "+5531991110003", "28374651", domain)
    d = CollectingDispatcher()
    await ActionNegotiate(api).run(d, tracker(sender, "counter_offer", "posso pagar um pouco"), domain)
    assert names(d) == ["utter_counter_not_understood"]
    d = CollectingDispatcher()
    events = await ActionNegotiate(api).run(
        d, tracker(sender, "counter_offer", "pago 25 mil à vista no pix"), domain
    )
    assert names(d) == ["utter_counter_accepted", "utter_confirm_cash"]
    assert (
        slots_of(events)["pending_option"] == "cash" and slots_of(events)["negotiation_stage"] == "confirming"
    )


async def test_handoff_dispute_opt_out(api: ServerApi, live_server: LiveServer, domain: dict) -> None:
    sender = await verified(api, live_server, "+5531991110004", "67120384", domain)
    d = CollectingDispatcher()
    await ActionFlagDispute(api).run(d, tracker(sender, "dispute_debt", "não reconheço"), domain)
    assert names(d)[0] == "utter_dispute_noted" and names(d)[1] in (
        "utter_handoff_now",
        "utter_handoff_later",
    )
    other = live_server.conversation_for("+5521900000001")
    d = CollectingDispatcher()
    await ActionHandoff(api).run(d, tracker(other, "complaint", "que absurdo"), domain)
    assert names(d)[0] == "utter_complaint"
    d = CollectingDispatcher()
    await ActionOptOut(api).run(d, tracker(other, "opt_out", "sair"), domain)
    assert names(d) == ["utter_opt_out_noted"]


async def test_already_paid_not_found(api: ServerApi, live_server: LiveServer, domain: dict) -> None:
    sender = await verified(api, live_server, "+5531991110005", "33221100", domain)
    events = await ActionCheckPayment(api).run(
        CollectingDispatcher(), tracker(sender, "already_paid", "já paguei"), domain
    )
    assert slots_of(events) == {"payment_found": False}


async def test_two_fallbacks_in_a_row_hand_off(api: ServerApi, live_server: LiveServer, domain: dict) -> None:
    sender = live_server.conversation_for("+5521900000002")
    fallback = {"event": "user", "parse_data": {"intent": {"name": "nlu_fallback"}}}
    d = CollectingDispatcher()
    await ActionFallback(api).run(d, tracker(sender, "nlu_fallback", "asdf", events=[fallback]), domain)
    assert names(d) == ["utter_default"]
    d = CollectingDispatcher()
    await ActionFallback(api).run(
        d, tracker(sender, "nlu_fallback", "qwer", events=[fallback, fallback]), domain
    )
    assert names(d)[0] in ("utter_handoff_now", "utter_handoff_later")


async def test_resume_after_digression(domain: dict) -> None:
    d = CollectingDispatcher()
    buttons = [{"title": "PIX", "payload": '/choose_option{"option": "cash"}'}]
    await ActionResume().run(
        d,
        tracker("x", "bot_challenge", "robô?", {"negotiation_stage": "offered", "offer_buttons": buttons}),
        domain,
    )
    assert names(d) == ["utter_resume_offer"] and d.messages[0]["buttons"] == buttons
    d = CollectingDispatcher()
    await ActionResume().run(d, tracker("x", "thank", "obrigado", {"negotiation_stage": "none"}), domain)
    assert d.messages == []
