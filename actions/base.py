"""Base for actions that call the server: one place that turns an unreachable server into an
apology instead of a crash."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.server_api import ServerApi, ServerApiError


class ApiAction(Action, ABC):
    """Abstract (so rasa_sdk does not register it): subclasses name themselves and ``act``."""

    def __init__(self, api: ServerApi | None = None) -> None:
        self.api = api or ServerApi.from_env()

    @abstractmethod
    def name(self) -> str: ...

    @abstractmethod
    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]: ...

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        try:
            return await self.act(dispatcher, tracker, domain)
        except ServerApiError:
            dispatcher.utter_message(response="utter_technical_problem")
            return []
