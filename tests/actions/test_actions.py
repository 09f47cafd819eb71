"""Custom actions with rasa_sdk's CollectingDispatcher, against the live server."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from conftest import ANA, BIA, CARLOS, STRANGER, LiveServer
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.debts import ActionShowDebts
from actions.identity import ValidateIdentityForm
from actions.server_api import ServerApi
from actions.session import ActionSessionStart
from tests.business_day import business_today


def tracker(sender: str, slots: dict[str, Any] | None = None, *, answer: str | None = None) -> Tracker:
    """A tracker inside identity_form whose latest user message is ``answer``."""
    slots = {"identity_status": "unverified", "creditor_name": "Horizonte Distribuidora", **(slots or {})}
    events: list[dict[str, Any]] = []
    if answer is not None:
        events = [
            {"event": "user", "text": answer, "parse_data": {"intent": {"name": "inform_cnpj"}}},
            {"event": "slot", "name": "cnpj_root", "value": answer},
        ]
        slots["cnpj_root"] = answer
        slots["requested_slot"] = "cnpj_root"
    return Tracker(
        sender_id=sender, slots=slots,
        latest_message={"text": answer or "", "intent": {"name": "inform_cnpj"}, "entities": []},
        events=events, paused=False, followup_action=None,
        active_loop={"name": "identity_form"} if answer is not None else {},
        latest_action_name="action_listen",
    )  # fmt: skip


def slot_events(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def responses(dispatcher: CollectingDispatcher) -> list[str]:
    return [m["response"] for m in dispatcher.messages]


async def test_session_start_reads_identity_from_the_server(
    api: ServerApi, live_server: LiveServer, domain: dict
) -> None:
    for phone, status in ((ANA, "unverified"), (STRANGER, "unknown")):
        dispatcher = CollectingDispatcher()
        events = await ActionSessionStart(api).run(
            dispatcher, tracker(live_server.conversation_for(phone)), domain
        )
        assert events[0]["event"] == "session_started" and events[-1]["name"] == "action_listen"
        slots = slot_events(events)
        assert slots["identity_status"] == status
        assert slots["creditor_name"] == "Horizonte Distribuidora"
        assert dispatcher.messages == []


async def test_session_start_with_server_down_discloses_nothing(domain: dict) -> None:
    api = ServerApi(base_url="http://127.0.0.1:9", token="x", timeout_s=2, reconnect_s=0.5)
    events = await ActionSessionStart(api).run(CollectingDispatcher(), tracker("abc"), domain)
    assert "identity_status" not in slot_events(events)  # stays at its initial 'unverified'


async def test_wrong_root_then_right_root_then_debts(
    api: ServerApi, live_server: LiveServer, domain: dict
) -> None:
    sender = live_server.conversation_for(ANA)
    form = ValidateIdentityForm(api)

    dispatcher = CollectingDispatcher()
    events = await form.run(dispatcher, tracker(sender, answer="12ABC345"), domain)
    assert slot_events(events)["cnpj_root"] is None
    assert dispatcher.messages[0]["response"] == "utter_cnpj_mismatch"
    assert dispatcher.messages[0]["attempts_left"] == 2

    dispatcher = CollectingDispatcher()
    events = await form.run(dispatcher, tracker(sender, answer="não lembro"), domain)
    assert responses(dispatcher) == ["utter_cnpj_not_understood"]
    assert slot_events(events)["cnpj_root"] is None

    dispatcher = CollectingDispatcher()
    events = await form.run(dispatcher, tracker(sender, answer="o cnpj é 12.345.678/0001-95"), domain)
    assert responses(dispatcher) == ["utter_identity_confirmed"]
    assert slot_events(events) == {"cnpj_root": "ok", "identity_status": "verified"}

    dispatcher = CollectingDispatcher()
    events = await ActionShowDebts(api).run(
        dispatcher, tracker(sender, {"identity_status": "verified"}), domain
    )
    assert responses(dispatcher) == ["utter_debts_summary"]
    summary = dispatcher.messages[0]
    assert summary["debtor_name"] == "Mercado Bom Preço Ltda"
    assert summary["invoice_count"] == 2
    assert summary["as_of"] == business_today().strftime("%d/%m/%Y")
    # NF-1: 1 000,00, 30 days late: multa 20,00 + juros 10,00. NF-2 not yet due: 250,00.
    due = (business_today() - timedelta(days=30)).strftime("%d/%m/%Y")
    assert summary["invoice_lines"].splitlines() == [
        f"• Fatura NF-1, vencida em {due} (30 dias): R$ 1.030,00",
        f"• Fatura NF-2, vence em {(business_today() + timedelta(days=10)).strftime('%d/%m/%Y')}: R$ 250,00",
    ]
    assert summary["total"] == "R$ 1.280,00"
    assert slot_events(events) == {"identity_status": "verified"}


async def test_alphanumeric_cnpj_root_verifies(api: ServerApi, live_server: LiveServer, domain: dict) -> None:
    sender = live_server.conversation_for(BIA)
    dispatcher = CollectingDispatcher()
    events = await ValidateIdentityForm(api).run(dispatcher, tracker(sender, answer="12.abc.345"), domain)
    assert slot_events(events)["identity_status"] == "verified"


async def test_three_failures_lock_and_end_the_form(
    api: ServerApi, live_server: LiveServer, domain: dict
) -> None:
    sender = live_server.conversation_for("+5531991230000")  # same DDD + last 8 as no one: unknown
    dispatcher = CollectingDispatcher()
    events = await ValidateIdentityForm(api).run(dispatcher, tracker(sender, answer="12345678"), domain)
    assert slot_events(events)["identity_status"] == "unknown"

    # Ana's number written without the ninth digit is the same sender key as her contact.
    sender = live_server.conversation_for("+553191234567")
    form = ValidateIdentityForm(api)
    for attempt in range(3):
        dispatcher = CollectingDispatcher()
        events = await form.run(dispatcher, tracker(sender, answer=f"9999999{attempt}"), domain)
    slots = slot_events(events)
    assert slots["identity_status"] == "locked"
    assert slots["requested_slot"] is None  # the form ends: nothing left to ask
    dispatcher = CollectingDispatcher()
    events = await ActionShowDebts(api).run(
        dispatcher, tracker(sender, {"identity_status": "locked"}), domain
    )
    assert responses(dispatcher) == ["utter_identity_locked"]
    assert slot_events(events) == {"identity_status": "locked"}


@pytest.mark.parametrize(
    "phone, response", [(CARLOS, "utter_need_identity"), (STRANGER, "utter_unknown_sender")]
)
async def test_show_debts_refuses_without_verification(
    api: ServerApi, live_server: LiveServer, domain: dict, phone: str, response: str
) -> None:
    sender = live_server.conversation_for(phone)
    # Even if the tracker claimed 'verified', the server decides.
    dispatcher = CollectingDispatcher()
    await ActionShowDebts(api).run(dispatcher, tracker(sender, {"identity_status": "verified"}), domain)
    assert responses(dispatcher) == [response]


async def test_server_down_apologises(domain: dict) -> None:
    api = ServerApi(base_url="http://127.0.0.1:9", token="x", timeout_s=2, reconnect_s=0.5)
    dispatcher = CollectingDispatcher()
    events = await ActionShowDebts(api).run(
        dispatcher, tracker("abc", {"identity_status": "verified"}), domain
    )
    assert responses(dispatcher) == ["utter_technical_problem"] and events == []
    dispatcher = CollectingDispatcher()
    events = await ValidateIdentityForm(api).run(dispatcher, tracker("abc", answer="12345678"), domain)
    assert responses(dispatcher) == ["utter_technical_problem"]
    assert slot_events(events)["cnpj_root"] is None


def test_every_response_the_actions_use_exists(domain: dict) -> None:
    used = {
        "utter_debts_summary",
        "utter_invoice_line",
        "utter_invoice_line_not_due",
        "utter_more_invoices",
        "utter_no_open_debts",
        "utter_anything_else",
        "utter_technical_problem",
        "utter_identity_locked",
        "utter_unknown_sender",
        "utter_need_identity",
        "utter_cnpj_mismatch",
        "utter_cnpj_not_understood",
        "utter_identity_confirmed",
    }
    assert used <= set(domain["responses"])
