"""Hand-written fakes for the adapters (no patching)."""

from __future__ import annotations

from typing import Any

from bot.dialogue import BotReply, Button, DialogueUnavailable


class EchoDialogue:
    """Answers every message with 'eco: <text>' and a button; remembers what it was sent."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.available = True

    def send(self, sender: str, text: str, metadata: dict[str, Any]) -> list[BotReply]:
        if not self.available:
            raise DialogueUnavailable("down")
        self.calls.append((sender, text, metadata))
        return [BotReply(f"eco: {text}", [Button("Sim", "/affirm")])]

    def is_ready(self) -> bool:
        return self.available
