"""The identity form: the contact confirms the debtor's CNPJ root; the server judges it."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.types import DomainDict

from actions.server_api import ServerApi, ServerApiError


class ValidateIdentityForm(FormValidationAction):
    def __init__(self, api: ServerApi | None = None) -> None:
        self.api = api or ServerApi.from_env()

    def name(self) -> str:
        return "validate_identity_form"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        # Once disclosure is locked there is nothing left to ask: ending the form early.
        if tracker.get_slot("identity_status") == "locked":
            return []
        return domain_slots

    async def validate_cnpj_root(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        answer = value if isinstance(value, str) else " ".join(map(str, value or []))
        try:
            result = await self.api.verify(tracker.sender_id, answer)
        except ServerApiError:
            dispatcher.utter_message(response="utter_technical_problem")
            return {"cnpj_root": None}
        outcome = result.get("outcome")
        if outcome == "verified":
            dispatcher.utter_message(response="utter_identity_confirmed")
            return {"cnpj_root": "ok", "identity_status": "verified"}
        if outcome == "mismatch":
            dispatcher.utter_message(
                response="utter_cnpj_mismatch", attempts_left=result.get("attempts_left")
            )
            return {"cnpj_root": None}
        if outcome in ("locked", "unknown"):
            # action_show_debts, run when the form ends, tells the contact why nothing is shown.
            return {"cnpj_root": None, "identity_status": outcome}
        dispatcher.utter_message(response="utter_cnpj_not_understood")
        return {"cnpj_root": None}
