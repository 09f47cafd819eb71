"""Show a verified contact what the company owes, with the updated balance."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.server_api import ServerApi, ServerApiError

MAX_LINES = 10

REFUSAL_RESPONSES = {
    "unknown": "utter_unknown_sender",
    "locked": "utter_identity_locked",
    "unverified": "utter_need_identity",
}


def response_text(domain: dict[str, Any], name: str) -> str:
    """The text of a domain response, used as a line template inside another response."""
    return str(domain["responses"][name][0]["text"])


def invoice_lines(summary: dict[str, Any], domain: dict[str, Any]) -> str:
    overdue = response_text(domain, "utter_invoice_line")
    not_due = response_text(domain, "utter_invoice_line_not_due")
    lines = []
    for invoice in summary["invoices"][:MAX_LINES]:
        template = overdue if invoice["days_late"] > 0 else not_due
        lines.append(
            template.format(
                number=invoice["number"],
                due_date=invoice["due_date_display"],
                days_late=invoice["days_late"],
                total=invoice["total_display"],
            )
        )
    hidden = len(summary["invoices"]) - MAX_LINES
    if hidden > 0:
        lines.append(response_text(domain, "utter_more_invoices").format(count=hidden))
    return "\n".join(lines)


class ActionShowDebts(Action):
    def __init__(self, api: ServerApi | None = None) -> None:
        self.api = api or ServerApi.from_env()

    def name(self) -> str:
        return "action_show_debts"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        try:
            response = await self.api.debts(tracker.sender_id)
        except ServerApiError:
            dispatcher.utter_message(response="utter_technical_problem")
            return []
        if response.status == 403:
            status = str(response.body.get("status") or "unverified")
            dispatcher.utter_message(response=REFUSAL_RESPONSES.get(status, "utter_need_identity"))
            return [SlotSet("identity_status", status)]
        summary = response.body
        if not summary["invoices"]:
            dispatcher.utter_message(response="utter_no_open_debts", debtor_name=summary["debtor_name"])
        else:
            dispatcher.utter_message(
                response="utter_debts_summary",
                debtor_name=summary["debtor_name"],
                invoice_count=summary["invoice_count"],
                as_of=summary["as_of_display"],
                invoice_lines=invoice_lines(summary, domain),
                total=summary["total_display"],
            )
        return [SlotSet("identity_status", "verified")]
