"""Negotiation actions: offers, the debtor's moves, choosing an option, closing the agreement.

The server decides every amount; these actions only carry the tracker to it and its answers back
as domain.yml responses.
"""

from __future__ import annotations

import json
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import ApiAction
from actions.handoff import announce_handoff
from actions.presenting import confirm, present_offer
from actions.server_api import ApiResponse, ServerApi
from actions.tracking import latest_intent

# What each intent means as a negotiation move.
MOVES = {
    "deny": "refuse",
    "request_installments": "installments",
    "counter_offer": "counter_offer",
    "financial_hardship": "hardship",
    "request_postponement": "postpone",
}
REASON_RESPONSES = {
    "max_installments": "utter_reason_max_installments",
    "min_installment_amount": "utter_reason_min_installment_amount",
    "min_down_payment": "utter_reason_min_down_payment",
    "max_discount": "utter_reason_max_discount",
    "first_due_limit": "utter_reason_first_due_limit",
    "hardship": "utter_reason_hardship",
}
REFUSALS = {
    "unknown": "utter_unknown_sender",
    "locked": "utter_identity_locked",
    "unverified": "utter_need_identity",
}


def _reason_values(outcome: dict[str, Any]) -> dict[str, Any]:
    quote = outcome.get("quote") or {}
    proposal = quote.get("proposal") or (quote.get("plans") or [{}])[0]
    return {
        "installments": proposal.get("installments", ""),
        "down_payment": (proposal.get("down_payment") or {}).get("display", ""),
        "min_installment": (proposal.get("installment_amount") or {}).get("display", ""),
        "due_date": ((quote.get("cash") or {}).get("due_date") or {}).get("display", ""),
    }


async def show_outcome(
    api: ServerApi, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any],
    response: ApiResponse, opening: bool = False,
) -> list[EventType]:  # fmt: skip
    """Put the server's answer to a move into words, and set the negotiation slots."""
    if response.status == 403:
        status = str(response.body.get("status", "unverified"))
        dispatcher.utter_message(response=REFUSALS.get(status, "utter_need_identity"))
        return [SlotSet("identity_status", status)]
    if response.status == 409:
        dispatcher.utter_message(response="utter_nothing_to_negotiate")
        return [SlotSet("negotiation_stage", "none")]
    if response.status == 422:
        wants_date = latest_intent(tracker) == "request_postponement"
        dispatcher.utter_message(
            response="utter_date_not_understood" if wants_date else "utter_counter_not_understood"
        )
        return []
    outcome = response.body
    if outcome["needs_human"]:
        if outcome["reason"] in REASON_RESPONSES:
            dispatcher.utter_message(response=REASON_RESPONSES[outcome["reason"]], **_reason_values(outcome))
        return [
            SlotSet("negotiation_stage", "none"),
            *await announce_handoff(api, dispatcher, tracker, outcome["reason"]),
        ]
    quote = outcome["quote"]
    events: list[EventType] = [SlotSet("current_quote", quote)]
    if outcome["accepted_counter"]:
        option = "proposal" if quote.get("proposal") else "cash"
        dispatcher.utter_message(response="utter_counter_accepted")
        confirm(dispatcher, quote, option)
        return [*events, SlotSet("pending_option", option), SlotSet("negotiation_stage", "confirming")]
    if opening:
        dispatcher.utter_message(response="utter_offer_intro")
    elif outcome["reason"] in REASON_RESPONSES:
        dispatcher.utter_message(response=REASON_RESPONSES[outcome["reason"]], **_reason_values(outcome))
    elif outcome["reason"] == "next_step":
        dispatcher.utter_message(response="utter_offer_improved")
    if outcome["final"] and not opening:
        dispatcher.utter_message(response="utter_offer_final")
    buttons = present_offer(dispatcher, quote, domain)
    return [*events, SlotSet("offer_buttons", buttons), SlotSet("negotiation_stage", "offered")]


class ActionMakeOffer(ApiAction):
    """The opening offer for the debtor's overdue invoices."""

    def name(self) -> str:
        return "action_make_offer"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        response = await self.api.quote(tracker.sender_id)
        return await show_outcome(self.api, dispatcher, tracker, domain, response, opening=True)


class ActionNegotiate(ApiAction):
    """A refusal, a request for installments, a counter-offer, hardship or a new date."""

    def name(self) -> str:
        return "action_negotiate"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        move = MOVES.get(latest_intent(tracker) or "", "refuse")
        text = tracker.latest_message.get("text") or ""
        response = await self.api.move(tracker.sender_id, move, text)
        return await show_outcome(self.api, dispatcher, tracker, domain, response)


def option_of(payload: str) -> str | None:
    """'/choose_option{"option": "plan-1"}' → 'plan-1'."""
    _, _, data = payload.partition("{")
    try:
        return str(json.loads("{" + data)["option"])
    except (ValueError, KeyError):
        return None


ORDINALS = {
    "1": 0,
    "um": 0,
    "primeira": 0,
    "2": 1,
    "dois": 1,
    "segunda": 1,
    "3": 2,
    "tres": 2,
    "três": 2,
    "terceira": 2,
}


def chosen_option(tracker: Tracker) -> str | None:
    """The option picked by button payload, by typing its number, or by naming it."""
    entity = next(tracker.get_latest_entity_values("option"), None)
    if entity:
        return str(entity)
    if latest_intent(tracker) == "pay_pix":
        return "cash"
    words = (tracker.latest_message.get("text") or "").strip().lower().replace("ª", "").split()
    buttons = tracker.get_slot("offer_buttons") or []
    for word in words:
        index = ORDINALS.get(word.strip(".,!?"))
        if index is not None and index < len(buttons):
            return option_of(buttons[index]["payload"])
    if any(w in ("vista", "pix") for w in words):
        return "cash"
    if any(w.startswith("parcel") for w in words) and len(buttons) > 1:
        return option_of(buttons[1]["payload"])
    return None


class ActionChooseOption(Action):
    def name(self) -> str:
        return "action_choose_option"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        quote = tracker.get_slot("current_quote")
        option = chosen_option(tracker)
        if not quote or option is None or not confirm(dispatcher, quote, option):
            dispatcher.utter_message(
                response="utter_which_option", buttons=tracker.get_slot("offer_buttons") or []
            )
            return [SlotSet("negotiation_stage", "offered")]
        return [SlotSet("pending_option", option), SlotSet("negotiation_stage", "confirming")]


class ActionAcceptAgreement(ApiAction):
    """The debtor confirmed the exact terms: the agreement, its first PIX code and the term."""

    def name(self) -> str:
        return "action_accept_agreement"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        quote = tracker.get_slot("current_quote") or {}
        option = tracker.get_slot("pending_option") or "cash"
        message_id = tracker.latest_message.get("message_id")
        response = await self.api.accept(tracker.sender_id, quote.get("id", ""), option, message_id)
        if response.status in (404, 409):
            dispatcher.utter_message(response="utter_quote_expired")
            opened = await self.api.quote(tracker.sender_id)
            return await show_outcome(self.api, dispatcher, tracker, domain, opened, opening=True)
        if response.status != 200:
            dispatcher.utter_message(response="utter_technical_problem")
            return []
        agreement = response.body
        send_payment(dispatcher, agreement, "utter_agreement_done")
        send_term(dispatcher, agreement["term_url"])
        return [
            SlotSet("agreement_id", agreement["id"]),
            SlotSet("negotiation_stage", "agreed"),
            SlotSet("current_quote", None),
            SlotSet("offer_buttons", None),
        ]


def send_payment(dispatcher: CollectingDispatcher, agreement: dict[str, Any], intro: str) -> None:
    """The next open installment: an intro, then the PIX code alone so it can be copied."""
    pending = [i for i in agreement["installments"] if i["status"] == "open"] or agreement["installments"]
    nxt = pending[0]
    dispatcher.utter_message(
        response=intro, amount=nxt["amount"]["display"], due_date=nxt["due_date"]["display"]
    )
    # The code alone, so it can be copied; its QR image follows as media where the channel has it.
    dispatcher.utter_message(response="utter_pix_code", pix_code=nxt["pix_code"], image=nxt.get("qr_url"))


def send_term(dispatcher: CollectingDispatcher, url: str) -> None:
    """The link in words, and the PDF itself as a document (WhatsApp media, Telegram document)."""
    dispatcher.utter_message(response="utter_term_link", url=url, json_message={"document": url})


class ActionShowOfferAgain(Action):
    """After a 'no' at confirmation: the options on the table again."""

    def name(self) -> str:
        return "action_show_offer_again"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        quote = tracker.get_slot("current_quote")
        if not quote:
            return [SlotSet("negotiation_stage", "none")]
        dispatcher.utter_message(response="utter_other_options")
        buttons = present_offer(dispatcher, quote, domain)
        return [SlotSet("offer_buttons", buttons), SlotSet("negotiation_stage", "offered")]


class ActionResume(Action):
    """After a digression, back to where the conversation was."""

    def name(self) -> str:
        return "action_resume"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        stage = tracker.get_slot("negotiation_stage")
        if stage == "offered":
            dispatcher.utter_message(
                response="utter_resume_offer", buttons=tracker.get_slot("offer_buttons") or []
            )
        elif stage == "confirming":
            dispatcher.utter_message(response="utter_resume_confirm")
        return []


class ActionSecondCopy(ApiAction):
    """'Manda a segunda via': the PIX code of the next payment of the agreement, if there is one."""

    def name(self) -> str:
        return "action_second_copy"

    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        agreement_id = tracker.get_slot("agreement_id")
        response = await self.api.agreement(agreement_id) if agreement_id else None
        if response is None or response.status != 200:
            dispatcher.utter_message(response="utter_no_second_copy")
            return []
        send_payment(dispatcher, response.body, "utter_second_copy_intro")
        send_term(dispatcher, response.body["term_url"])
        return []
