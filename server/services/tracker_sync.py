"""Bringing the bot's Rasa tracker up to date when a collector hands a conversation back.

While a person held the conversation Rasa saw nothing, so its tracker may still sit inside a form,
hold an expired quote or not know an agreement the collector made. On release the server appends
events to the tracker (Rasa HTTP API, ``POST /conversations/{sender}/tracker/events``) so the bot
resumes with no stale form, no repeated question and the agreement known.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from bot.dialogue import NOT_REACHED, instance_order

# Slots of domain.yml that describe a negotiation in progress; all cleared on resume.
NEGOTIATION_SLOTS = ("current_quote", "pending_option", "offer_buttons", "payment_date")


@dataclass(frozen=True)
class Resume:
    """What the bot must know when it takes the conversation back."""

    agreement_id: str | None = None  # an agreement the collector made


class TrackerSyncError(RuntimeError):
    """The dialogue engine could not be updated."""


class TrackerSync(Protocol):
    def resume(self, sender: str, resume: Resume) -> None: ...


def resume_events(resume: Resume) -> list[dict[str, Any]]:
    """Deactivate any form, forget the pending question and the offer on the table; record an
    agreement made by the collector as the bot's own ``agreed`` stage."""
    events: list[dict[str, Any]] = [
        {"event": "active_loop", "name": None},
        {"event": "slot", "name": "requested_slot", "value": None},
    ]
    events += [{"event": "slot", "name": name, "value": None} for name in NEGOTIATION_SLOTS]
    agreed = resume.agreement_id is not None
    events.append({"event": "slot", "name": "negotiation_stage", "value": "agreed" if agreed else "none"})
    if agreed:
        events.append({"event": "slot", "name": "agreement_id", "value": resume.agreement_id})
    return events


class RasaTrackerSync:
    """Rasa's HTTP API (``rasa run --enable-api``, bound to 127.0.0.1, optional ``--auth-token``);
    with several instances, tried in the conversation's hash order, passing over one that refuses
    the connection (they share the tracker store, so any of them will do)."""

    def __init__(
        self, base_urls: str | Sequence[str], token: str | None = None, timeout_s: float = 10.0
    ) -> None:
        urls = [base_urls] if isinstance(base_urls, str) else list(base_urls)
        self._clients = [httpx.Client(base_url=url, timeout=timeout_s) for url in urls]
        self._params = {"token": token} if token else {}

    def resume(self, sender: str, resume: Resume) -> None:
        unreached: Exception | None = None
        for index in instance_order(sender, len(self._clients)):
            try:
                response = self._clients[index].post(
                    f"/conversations/{sender}/tracker/events",
                    params={**self._params, "include_events": "NONE"},
                    json=resume_events(resume),
                )
                response.raise_for_status()
                return
            except NOT_REACHED as exc:
                unreached = exc
            except httpx.HTTPError as exc:
                raise TrackerSyncError(str(exc)) from exc
        raise TrackerSyncError(str(unreached))

    def close(self) -> None:
        for client in self._clients:
            client.close()
