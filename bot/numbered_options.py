"""Options as numbered lines, for channels without buttons (WhatsApp free text).

``render`` writes the lines; ``resolve`` maps the debtor's "2" / "opção 2" / "2️⃣" back to the
payload of button 2, so the dialogue sees the same thing a button press would send.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from bot.dialogue import Button

_KEYCAP = re.compile("[\ufe0f\u20e3]")
_CHOICE = re.compile(
    r"^(?:(?:a|o)\s+)?(?:(?:opcao|alternativa|numero|n[o.]?)\s*)?(?:n[o.]\s*)?(\d{1,2})\s*[.)!]*$"
)


def render(text: str, buttons: Sequence[Button]) -> str:
    lines = "\n".join(f"{i}. {button.title}" for i, button in enumerate(buttons, start=1))
    return f"{text}\n\n{lines}" if text else lines


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", _KEYCAP.sub("", text))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.lower().replace("º", "o").replace("°", "o").split())


def is_choice(text: str) -> bool:
    """Whether ``text`` reads as a choice by number at all (before looking for the options)."""
    return _CHOICE.match(_fold(text)) is not None


def resolve(text: str, buttons: Sequence[Button]) -> str | None:
    """The payload of the chosen button, or None when ``text`` is not a choice among them."""
    match = _CHOICE.match(_fold(text))
    if match is None:
        return None
    index = int(match.group(1))
    if 1 <= index <= len(buttons):
        return buttons[index - 1].payload
    return None
