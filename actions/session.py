"""Session start: learn from the server who is writing (known, verified, locked)."""

from __future__ import annotations

import contextlib
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.server_api import ServerApi, ServerApiError


def context_slots(context: dict[str, Any]) -> list[EventType]:
    events: list[EventType] = [SlotSet("identity_status", context.get("status", "unverified"))]
    if context.get("creditor_name"):
        events.append(SlotSet("creditor_name", context["creditor_name"]))
    events.append(SlotSet("contact_first_name", context.get("contact_first_name")))
    return events


class ActionSessionStart(Action):
    def __init__(self, api: ServerApi | None = None) -> None:
        self.api = api or ServerApi.from_env()

    def name(self) -> str:
        return "action_session_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        events: list[EventType] = [SessionStarted()]
        # If the server is unreachable, identity_status keeps its safe initial value ('unverified').
        with contextlib.suppress(ServerApiError):
            events += context_slots(await self.api.context(tracker.sender_id))
        events.append(ActionExecuted("action_listen"))
        return events
