"""The dialogue engine behind a small interface; Rasa's REST channel is the real implementation."""

from __future__ import annotations

import json
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
import urllib3


@dataclass(frozen=True)
class Button:
    title: str
    payload: str


@dataclass(frozen=True)
class BotReply:
    text: str = ""
    buttons: list[Button] = field(default_factory=list)
    image: str | None = None
    document: str | None = None

    def payload(self) -> dict[str, Any] | None:
        if not (self.buttons or self.image or self.document):
            return None
        return {
            "buttons": [{"title": b.title, "payload": b.payload} for b in self.buttons],
            "image": self.image,
            "document": self.document,
        }

    @classmethod
    def from_payload(cls, text: str, payload: dict[str, Any] | None) -> BotReply:
        payload = payload or {}
        buttons = [Button(b["title"], b["payload"]) for b in payload.get("buttons") or []]
        return cls(text, buttons, payload.get("image"), payload.get("document"))


class DialogueUnavailable(RuntimeError):
    """The engine could not be reached or answered with an error."""


class DialogueEngine(Protocol):
    def send(self, sender: str, text: str, metadata: dict[str, Any]) -> list[BotReply]: ...

    def is_ready(self) -> bool: ...


# Rasa's REST channel answers 200 even when the turn failed inside Rasa (action server down,
# tracker store unreachable). The launcher (scripts/rasa_run.py) then answers this one marker
# instead of partial replies, and the turn was not saved: the gateway may retry it.
TURN_FAILED_KEY = "negocia_turn_failed"


def turn_failure(data: object) -> str | None:
    if not isinstance(data, list):
        return "unexpected response from the dialogue engine"
    for item in data:
        custom = item.get("custom") if isinstance(item, dict) else None
        if isinstance(custom, dict) and custom.get(TURN_FAILED_KEY):
            return str(custom[TURN_FAILED_KEY])
    return None


def parse_rasa_replies(data: list[dict[str, Any]]) -> list[BotReply]:
    replies = []
    for item in data:
        custom = item.get("custom") or {}
        buttons = [
            Button(str(b.get("title", "")), str(b.get("payload", ""))) for b in item.get("buttons") or []
        ]
        replies.append(
            BotReply(
                text=item.get("text") or "",
                buttons=buttons,
                image=item.get("image"),
                document=custom.get("document") if isinstance(custom, dict) else None,
            )
        )
    return replies


def instance_order(sender: str, count: int) -> list[int]:
    """The Rasa instances in a conversation's own order: from a stable hash of its id, then the
    others in turn (how ties between equally busy instances are broken)."""
    first = zlib.crc32(sender.encode()) % count
    return [(first + k) % count for k in range(count)]


# Errors raised before a request reached the instance: another instance may take the turn, it
# cannot have run twice. Anything later (a timeout mid-turn) is the retry's business.
NOT_REACHED = (httpx.ConnectError, httpx.ConnectTimeout)
# The same for the turn's own request (urllib3): a refused connection, an unresolved name, a
# connect timeout.
TURN_NOT_REACHED = (urllib3.exceptions.ConnectTimeoutError,)
# How long an instance that refused a connection is tried only after the others.
DOWN_FOR_S = 5.0


JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
# How many more turns in flight a conversation's last instance may have than the least busy one
# and still get the conversation's next turn. Rasa keeps a conversation's tracker in memory
# between turns (scripts/rasa_run.py): a turn on the instance that ran the last one skips loading
# and replaying it, which a turn sent elsewhere pays (two pairs under bench/load.py: ~4 ms of
# Rasa's CPU a turn with turns by load alone).
STICKY_SLACK = 2
# Conversations whose last instance is remembered (the oldest forgotten first).
REMEMBERED = 10_000


class RasaRestEngine:
    """Talks to ``rasa run`` through its REST channel (``/webhooks/rest/webhook``).

    Given several instances (``rasa run`` processes sharing the tracker store and Redis lock
    store), each turn goes to the instance that ran the conversation's last turn, unless that one
    has more than ``STICKY_SLACK`` turns in flight above the least busy (then to the least busy),
    and to the next when that one cannot be reached. A conversation's turns never overlap (the
    gateway runs them one at a time, and Rasa's lock store guards the tracker). Any instance will
    do: Rasa keeps nothing of a conversation that the tracker store does not hold (the tracker it
    keeps in memory is checked against the store first); staying on one saves reloading it, and
    the slack keeps a few busy conversations from piling up on one instance as a hash would."""

    def __init__(
        self, base_urls: str | Sequence[str], timeout_s: float = 30.0, auth_token: str | None = None
    ) -> None:
        urls = [base_urls] if isinstance(base_urls, str) else list(base_urls)
        if not urls:
            raise ValueError("at least one Rasa URL is needed")
        self._clients = [httpx.Client(base_url=url, timeout=timeout_s) for url in urls]
        # Turns go through urllib3 directly (kept-alive connections, no retries): httpx's request
        # building and response handling around the same POST were ~4 % of the server's CPU.
        self._turn_urls = [url.rstrip("/") + "/webhooks/rest/webhook" for url in urls]
        self._http = urllib3.PoolManager(maxsize=32)
        self._timeout = urllib3.Timeout(connect=timeout_s, read=timeout_s)
        self._in_flight = [0] * len(urls)
        self._down_until = [0.0] * len(urls)  # refused a connection: tried last until then
        self._last: OrderedDict[str, int] = OrderedDict()  # conversation -> instance of its last turn
        self._guard = threading.Lock()
        # Rasa's HTTP API (/status, trackers) needs the token when `rasa run --auth-token` is set.
        self._auth = {"token": auth_token} if auth_token else {}

    def _order(self, sender: str) -> list[int]:
        """The instances to try, best first (called under the guard)."""
        hashed = instance_order(sender, len(self._clients))
        if len(hashed) == 1:
            return hashed
        now = time.monotonic()
        last = self._last.get(sender)
        return sorted(
            hashed,
            key=lambda i: (
                self._down_until[i] > now,
                self._in_flight[i] - (STICKY_SLACK if i == last else 0),
                i != last,
                hashed.index(i),
            ),
        )

    def _remember(self, sender: str, index: int) -> None:
        """The instance that ran the conversation's turn (called under the guard)."""
        self._last[sender] = index
        self._last.move_to_end(sender)
        if len(self._last) > REMEMBERED:
            self._last.popitem(last=False)

    def send(self, sender: str, text: str, metadata: dict[str, Any]) -> list[BotReply]:
        encoded = json.dumps({"sender": sender, "message": text, "metadata": metadata}).encode()
        unreached: Exception | None = None
        with self._guard:
            order = self._order(sender)
        for index in order:
            with self._guard:
                self._in_flight[index] += 1
            try:
                response = self._http.request(
                    "POST", self._turn_urls[index], body=encoded,
                    headers=JSON_HEADERS, timeout=self._timeout, retries=False,
                )  # fmt: skip
                if response.status >= 400:
                    raise DialogueUnavailable(f"Rasa answered {response.status} at {self._turn_urls[index]}")
                data = json.loads(response.data)
            except TURN_NOT_REACHED as exc:
                unreached = exc
                with self._guard:
                    self._down_until[index] = time.monotonic() + DOWN_FOR_S
                continue
            except (urllib3.exceptions.HTTPError, ValueError) as exc:
                raise DialogueUnavailable(str(exc) or type(exc).__name__) from exc
            finally:
                with self._guard:
                    self._in_flight[index] -= 1
            with self._guard:
                self._down_until[index] = 0.0
                self._remember(sender, index)
            failed = turn_failure(data)
            if failed:
                raise DialogueUnavailable(failed)
            return parse_rasa_replies(data)
        raise DialogueUnavailable(str(unreached))

    def is_ready(self) -> bool:
        """Whether some instance has its model loaded (that one can take every conversation)."""
        return any(self._ready(client) for client in self._clients)

    def _ready(self, client: httpx.Client) -> bool:
        try:
            response = client.get("/status", params=self._auth, timeout=3)
        except httpx.HTTPError:
            return False
        return response.status_code == 200 and bool(response.json().get("model_file"))

    def close(self) -> None:
        for client in self._clients:
            client.close()
        self._http.clear()
