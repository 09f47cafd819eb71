"""Leaving the script: a person takes over, with the reason and a summary for the collector."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import ApiAction
from actions.server_api import ServerApi, ServerApiError
from actions.tracking import latest_intent

INTENT_REASONS = {
    "request_human": "request_human",
    "complaint": "complaint",
    "nlu_fallback": "repeated_fallback",
}


async def announce_handoff(
    api: ServerApi, dispatcher: CollectingDispatcher, tracker: Tracker, reason: str, note: str | None = None
) -> list[EventType]:
    """Ask the server for a person and tell the debtor when one will answer."""
    try:
        result = await api.handoff(tracker.sender_id, reason, note)
    except ServerApiError:
        dispatcher.utter_message(response="utter_technical_problem")
        return []
    tell(dispatcher, result)
    return []


def tell(dispatcher: CollectingDispatcher, result: dict[str, Any]) -> None:
    if result.get("humans_available"):
        dispatcher.utter_message(response="utter_handoff_now")
    else:
        dispatcher.utter_message(
            response="utter_handoff_later",
            next_opening=result.get("next_opening_display"),
            working_hours=result.get("working_hours_display"),
        )


def previous_user_intent(tracker: Tracker) -> str | None:
    users = [e for e in tracker.events if e.get("event") == "user"]
    if len(users) < 2:
        return None
    return ((users[-2].get("parse_data") or {}).get("intent") or {}).get("name")


class ActionHandoff(ApiAction):
    """request_human, complaint or abuse: a person takes over."""

    def name(self) -> str:
        return "action_handoff"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        intent = latest_intent(tracker) or "request_human"
        if intent == "complaint":
            dispatcher.utter_message(response="utter_complaint")
        note = tracker.latest_message.get("text")
        events = await announce_handoff(
            self.api, dispatcher, tracker, INTENT_REASONS.get(intent, "request_human"), note
        )
        return [*events, SlotSet("negotiation_stage", "none")]


class _FlagAction(ApiAction):
    flag = ""
    response = ""

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        try:
            result = await self.api.flag(tracker.sender_id, self.flag, tracker.latest_message.get("text"))
        except ServerApiError:
            dispatcher.utter_message(response="utter_technical_problem")
            return []
        dispatcher.utter_message(response=self.response)
        tell(dispatcher, result)
        return [SlotSet("negotiation_stage", "none")]


class ActionFlagDispute(_FlagAction):
    """The debt is contested: marked disputed, reminders stop, a person looks at it."""

    flag = "dispute"
    response = "utter_dispute_noted"

    def name(self) -> str:
        return "action_flag_dispute"


class ActionFlagLegal(_FlagAction):
    """Recuperação judicial, falência, lawyers: legal hold, no further automated collection."""

    flag = "legal_hold"
    response = "utter_legal_noted"

    def name(self) -> str:
        return "action_flag_legal"


class ActionOptOut(ApiAction):
    def name(self) -> str:
        return "action_opt_out"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        try:
            await self.api.opt_out(tracker.sender_id)
        except ServerApiError:
            dispatcher.utter_message(response="utter_technical_problem")
            return []
        dispatcher.utter_message(response="utter_opt_out_noted")
        return []


class ActionCheckPayment(ApiAction):
    """'Já paguei': look for a recorded payment; if none, the form asks when it was made."""

    def name(self) -> str:
        return "action_check_payment"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        try:
            response = await self.api.payments(tracker.sender_id)
        except ServerApiError:
            dispatcher.utter_message(response="utter_technical_problem")
            return [SlotSet("payment_found", False)]
        payments = response.body.get("payments") or [] if response.status == 200 else []
        if payments:
            latest = payments[0]
            dispatcher.utter_message(
                response="utter_payment_found",
                amount=latest["amount"]["display"],
                paid_on=latest["paid_on"]["display"],
            )
            return [SlotSet("payment_found", True)]
        return [SlotSet("payment_found", False)]


class ActionPaymentClaim(ApiAction):
    """A payment we cannot see yet: a person verifies it, with the date the debtor gave."""

    def name(self) -> str:
        return "action_payment_claim"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        dispatcher.utter_message(response="utter_payment_check_handoff")
        note = f"Cliente informa pagamento feito em: {tracker.get_slot('payment_date')}"
        events = await announce_handoff(self.api, dispatcher, tracker, "already_paid", note)
        return [*events, SlotSet("payment_date", None), SlotSet("negotiation_stage", "none")]


class ActionFallback(ApiAction):
    """Not understood: say so once; twice in a row, a person takes over."""

    def name(self) -> str:
        return "action_fallback"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        if previous_user_intent(tracker) == "nlu_fallback":
            return await announce_handoff(
                self.api, dispatcher, tracker, "repeated_fallback", tracker.latest_message.get("text")
            )
        dispatcher.utter_message(response="utter_default")
        return []
