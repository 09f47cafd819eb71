"""Turning the server's offers into domain.yml responses (texts stay in domain.yml)."""

from __future__ import annotations

from typing import Any

from rasa_sdk.executor import CollectingDispatcher


def template(domain: dict[str, Any], name: str) -> str:
    """The text of a domain response, used as a line template inside another response."""
    return str(domain["responses"][name][0]["text"])


def cash_values(quote: dict[str, Any]) -> dict[str, Any]:
    cash = quote["cash"]
    return {
        "price": cash["price"]["display"],
        "discount_pct": cash["discount_pct"].replace(".", ","),
        "total": quote["balance_total"]["display"],
        "due_date": cash["due_date"]["display"],
    }


def plan_values(plan: dict[str, Any]) -> dict[str, Any]:
    return {
        "installments": plan["installments"],
        "installment_amount": plan["installment_amount"]["display"],
        "down_payment": plan["down_payment"]["display"],
        "down_payment_due": plan["down_payment_due"]["display"] if plan["down_payment_due"] else "",
        "first_due": plan["first_installment_due"]["display"],
        "interest": plan["monthly_interest_pct"].replace(".", ","),
        "total": plan["total"]["display"],
    }


def _plan_line(domain: dict[str, Any], plan: dict[str, Any]) -> str:
    has_down = plan["down_payment"]["value"] not in ("0", "0.00")
    name = "utter_offer_plan_line" if has_down else "utter_offer_plan_line_no_down"
    return template(domain, name).format(**plan_values(plan))


def offer_options(quote: dict[str, Any], domain: dict[str, Any]) -> tuple[str, list[dict[str, str]]]:
    """The option lines and their buttons (numbered lines on WhatsApp, made by the gateway)."""
    lines = [template(domain, "utter_offer_cash_line").format(**cash_values(quote))]
    buttons = [
        {
            "title": template(domain, "utter_button_cash").format(**cash_values(quote)),
            "payload": '/choose_option{"option": "cash"}',
        }
    ]
    plans = list(quote["plans"])
    if quote.get("proposal"):
        plans.insert(0, quote["proposal"])
    for plan in plans:
        lines.append(_plan_line(domain, plan))
        buttons.append(
            {
                "title": template(domain, "utter_button_plan").format(**plan_values(plan)),
                "payload": '/choose_option{"option": "%s"}' % plan["key"],
            }
        )
    return "\n".join(lines), buttons


def present_offer(
    dispatcher: CollectingDispatcher, quote: dict[str, Any], domain: dict[str, Any]
) -> list[dict[str, str]]:
    lines, buttons = offer_options(quote, domain)
    dispatcher.utter_message(response="utter_offer_options", lines=lines, buttons=buttons)
    return buttons


def find_option(quote_options: list[dict[str, Any]], key: str) -> dict[str, Any] | None:
    return next((o for o in quote_options if o.get("key") == key), None)


def confirm(dispatcher: CollectingDispatcher, quote: dict[str, Any], option: str) -> bool:
    """Ask the debtor to confirm the exact terms of ``option``; False if the quote lacks it."""
    if option == "cash":
        dispatcher.utter_message(response="utter_confirm_cash", **cash_values(quote))
        return True
    plans = list(quote["plans"]) + ([quote["proposal"]] if quote.get("proposal") else [])
    plan = find_option(plans, option)
    if plan is None:
        return False
    has_down = plan["down_payment"]["value"] not in ("0", "0.00")
    dispatcher.utter_message(
        response="utter_confirm_plan" if has_down else "utter_confirm_plan_no_down", **plan_values(plan)
    )
    return True
