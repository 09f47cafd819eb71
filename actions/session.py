"""Session start: learn from the server who is writing (known, verified, locked).

Sessions keep Rasa's turns cheap: the SQL tracker store loads only the current session, so a debtor
who writes for months (sessions expire after an hour of silence; the gateway also rotates a long
one) keeps the cost of a short conversation. With ``carry_over_slots_to_new_session`` a custom
session start must carry the slots itself (Rasa's default action does it for built-in sessions):
the negotiation (stage, quote on the table, pending option) and an active form go on in the new
session, while who is writing is always re-read from the server, the source of truth. When the
server no longer says "verified", nothing of the negotiation is carried (no disclosure).
"""

from __future__ import annotations

import contextlib
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, ActiveLoop, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.server_api import ServerApi, ServerApiError

# Re-read from the server at every session start, never carried.
CONTEXT_SLOTS = ("identity_status", "creditor_name", "contact_first_name")
# What is only meaningful to a verified contact.
NEGOTIATION_SLOTS = (
    "negotiation_stage", "current_quote", "pending_option", "offer_buttons", "agreement_id",
    "payment_found", "payment_date",
)  # fmt: skip


def context_slots(context: dict[str, Any]) -> list[EventType]:
    events: list[EventType] = [SlotSet("identity_status", context.get("status", "unverified"))]
    if context.get("creditor_name"):
        events.append(SlotSet("creditor_name", context["creditor_name"]))
    events.append(SlotSet("contact_first_name", context.get("contact_first_name")))
    return events


def carried_slots(tracker: Tracker, domain: dict[str, Any], verified: bool) -> list[EventType]:
    """The previous session's slots (as Rasa's default session start carries them)."""
    session_config = domain.get("session_config") or {}
    if not session_config.get("carry_over_slots_to_new_session", False):
        return []
    events: list[EventType] = []
    for name, value in (tracker.slots or {}).items():
        if value is None or name in CONTEXT_SLOTS or name == "requested_slot":
            continue
        if name in NEGOTIATION_SLOTS and not verified:
            continue
        events.append(SlotSet(name, value))
    loop = (tracker.active_loop or {}).get("name")
    if (loop and verified) or loop == "identity_form":
        events.append(ActiveLoop(loop))
        if tracker.slots.get("requested_slot"):
            events.append(SlotSet("requested_slot", tracker.slots["requested_slot"]))
    return events


class ActionSessionStart(Action):
    def __init__(self, api: ServerApi | None = None) -> None:
        self.api = api or ServerApi.from_env()

    def name(self) -> str:
        return "action_session_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        context: list[EventType] = []
        # If the server is unreachable, identity_status keeps its safe initial value ('unverified').
        with contextlib.suppress(ServerApiError):
            context = context_slots(await self.api.context(tracker.sender_id))
        verified = any(e.get("name") == "identity_status" and e.get("value") == "verified" for e in context)
        events: list[EventType] = [SessionStarted(), *carried_slots(tracker, domain, verified), *context]
        events.append(ActionExecuted("action_listen"))
        return events
