"""Reading the tracker."""

from __future__ import annotations

from rasa_sdk import Tracker


def latest_intent(tracker: Tracker) -> str | None:
    """The intent of the latest message as classified, nlu_fallback included (rasa_sdk's
    get_intent_of_latest_message skips it, and it reads only the ranking)."""
    intent = (tracker.latest_message or {}).get("intent") or {}
    return intent.get("name")
