"""action_session_start carries the negotiation into a new Rasa session only for a verified contact."""

from __future__ import annotations

from typing import Any

from conftest import LiveServer
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.identity import ValidateIdentityForm
from actions.server_api import ServerApi
from actions.session import ActionSessionStart

JOAO = "+5531991110005"  # Oficina Boa Ltda, CNPJ root 33221100
QUOTE = {"options": [{"kind": "cash", "amount": "800.00"}]}


def tracker(sender: str, slots: dict[str, Any], active_loop: str | None = None) -> Tracker:
    return Tracker(
        sender_id=sender, slots=slots, latest_message={}, events=[], paused=False,
        followup_action=None, active_loop={"name": active_loop} if active_loop else {},
        latest_action_name="action_listen",
    )  # fmt: skip


def by_name(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


async def test_a_verified_contact_keeps_the_offer_on_the_table(
    api: ServerApi, live_server: LiveServer, domain: dict
) -> None:
    sender = live_server.conversation_for(JOAO)
    verify = Tracker(
        sender, {"cnpj_root": "33221100", "requested_slot": "cnpj_root"}, {"text": "33221100", "intent": {}},
        [{"event": "slot", "name": "cnpj_root", "value": "33221100"}], False, None,
        {"name": "identity_form"}, "action_listen",
    )  # fmt: skip
    await ValidateIdentityForm(api).run(CollectingDispatcher(), verify, domain)
    previous = {
        "identity_status": "verified", "creditor_name": "Horizonte Distribuidora",
        "negotiation_stage": "offered", "current_quote": QUOTE, "pending_option": "cash",
        "requested_slot": None, "agreement_id": None,
    }  # fmt: skip
    events = await ActionSessionStart(api).run(CollectingDispatcher(), tracker(sender, previous), domain)
    assert events[0]["event"] == "session_started" and events[-1]["name"] == "action_listen"
    slots = by_name(events)
    assert slots["negotiation_stage"] == "offered" and slots["current_quote"] == QUOTE
    assert slots["pending_option"] == "cash"
    assert slots["identity_status"] == "verified"  # from the server, not from the old session
    assert "agreement_id" not in slots  # unset slots stay unset


async def test_an_unverified_contact_carries_no_negotiation(
    api: ServerApi, live_server: LiveServer, domain: dict
) -> None:
    sender = live_server.conversation_for("+5521988887777")  # unknown number
    previous = {"identity_status": "verified", "negotiation_stage": "offered", "current_quote": QUOTE}
    events = await ActionSessionStart(api).run(CollectingDispatcher(), tracker(sender, previous), domain)
    slots = by_name(events)
    assert slots["identity_status"] == "unknown"
    assert "negotiation_stage" not in slots and "current_quote" not in slots


async def test_an_open_identity_form_goes_on_in_the_new_session(
    api: ServerApi, live_server: LiveServer, domain: dict
) -> None:
    sender = live_server.conversation_for("+5531991110004")
    previous = {"identity_status": "unverified", "requested_slot": "cnpj_root"}
    events = await ActionSessionStart(api).run(
        CollectingDispatcher(), tracker(sender, previous, "identity_form"), domain
    )
    assert {"event": "active_loop", "name": "identity_form"} in [
        {k: e.get(k) for k in ("event", "name")} for e in events
    ]
    assert by_name(events)["requested_slot"] == "cnpj_root"
