"""A local fake of Twilio's REST API (Messages resource) and a signer for inbound webhooks.

A real HTTP server on a free port, in a thread, so the twilio library's own client talks to it
exactly as it would to api.twilio.com. Every call is recorded; responses can be scripted
(e.g. one 500 and then the default 201).
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode

from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "test-twilio-auth-token"
WHATSAPP_FROM = "+551140028922"
PUBLIC_BASE_URL = "https://negocia.example.com"


@dataclass
class TwilioCall:
    method: str
    path: str
    form: dict[str, list[str]]
    account_sid: str

    def one(self, name: str) -> str | None:
        values = self.form.get(name)
        return values[0] if values else None


@dataclass
class Scripted:
    status: int
    body: dict[str, object] = field(default_factory=dict)


class FakeTwilio:
    def __init__(self) -> None:
        self.calls: list[TwilioCall] = []
        self.sent: list[dict[str, object]] = []  # the messages the fake accepted (201)
        self._sent_to: dict[str, list[dict[str, object]]] = {}  # the same, by recipient ("whatsapp:+55…")
        self._script: deque[Scripted] = deque()
        self._lock = threading.Lock()
        # Waiters for any message (wait_for_sent) and waiters per recipient (wait_for_sent_to), on
        # one lock: a send wakes only its own recipient's waiters, not every simulated debtor of a
        # load test (with one shared condition, each send woke all twenty, ~20 % of bench/load.py's
        # CPU).
        self._changed = threading.Condition(self._lock)
        self._changed_to: dict[str, threading.Condition] = {}
        # Media of inbound messages, by path: (content type, bytes); fetched with basic auth.
        self.media: dict[str, tuple[str, bytes]] = {}
        self.media_fetches: list[tuple[str, str]] = []  # (path, account sid of the basic auth)
        self.before_answer: Callable[[TwilioCall, dict[str, object]], None] | None = None
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as Twilio's API: every answer has a length
            # Headers and body leave in two writes: with Nagle's algorithm on, the body waited for the
            # client's delayed ACK, ~40 ms per keep-alive request (a real API answers at once).
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode(), keep_blank_values=True)
                auth = self.headers.get("Authorization", "")
                user = base64.b64decode(auth.removeprefix("Basic ")).decode().split(":")[0] if auth else ""
                status, body = fake._answer(TwilioCall("POST", self.path, form, user))
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                auth = self.headers.get("Authorization", "")
                try:
                    user, _, password = base64.b64decode(auth.removeprefix("Basic ")).decode().partition(":")
                except ValueError:
                    user, password = "", ""
                path = self.path.split("?")[0]
                with fake._changed:
                    fake.media_fetches.append((path, user))
                if path.startswith("/cdn/"):  # where Twilio's media URLs redirect (no auth there)
                    stored = fake.media.get(path.removeprefix("/cdn"))
                    self._send(200 if stored else 404, *(stored or ("text/plain", b"not found")))
                    return
                if (user, password) != (ACCOUNT_SID, AUTH_TOKEN):
                    self._send(401, "application/json", b'{"code": 20003, "message": "Authenticate"}')
                    return
                if path not in fake.media:
                    self._send(404, "application/json", b'{"code": 20404, "message": "Not found"}')
                    return
                self.send_response(307)
                self.send_header("Location", f"{fake.url}/cdn{path}")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _send(self, status: int, content_type: str, data: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> FakeTwilio:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def script(self, *responses: Scripted) -> None:
        """The next calls get these responses, in order; then the default 201 again."""
        self._script.extend(responses)

    def fail_next(self, status: int, code: int, message: str = "falha simulada") -> None:
        self.script(Scripted(status, {"code": code, "message": message, "status": status}))

    def add_media(self, content: bytes, content_type: str) -> str:
        """Serve a file as an inbound message's media; returns its URL as Twilio gives it
        (on api.twilio.com: the server fetches it through NEGOCIA_TWILIO_API_BASE_URL)."""
        path = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM{uuid.uuid4().hex}/Media/ME{uuid.uuid4().hex}"
        with self._changed:
            self.media[path] = (content_type, content)
        return f"https://api.twilio.com{path}"

    def _answer(self, call: TwilioCall) -> tuple[int, dict[str, object]]:
        hook = self.before_answer
        if hook is not None and (not self._script or self._script[0].status == 201):
            # e.g. a status callback that reaches the server before this response does
            hook(call, self._script[0].body if self._script else {})
        with self._changed:
            self.calls.append(call)
            scripted = self._script.popleft() if self._script else None
            if scripted is None or scripted.status == 201:
                body = {
                    "sid": "SM" + uuid.uuid4().hex,
                    "status": "queued",
                    "account_sid": call.account_sid,
                    "from": call.one("From"),
                    "to": call.one("To"),
                    "body": call.one("Body") or "",
                    "num_media": str(len(call.form.get("MediaUrl", []))),
                }
                body.update(scripted.body if scripted else {})
                record = {**body, "received_at": time.monotonic(), "media_url": call.form.get("MediaUrl", []),
                          "content_sid": call.one("ContentSid"), "content_variables": call.one("ContentVariables"),
                          "status_callback": call.one("StatusCallback")}  # fmt: skip
                self.sent.append(record)
                self._sent_to.setdefault(str(body["to"]), []).append(record)
                self._changed.notify_all()
                waiting = self._changed_to.get(str(body["to"]))
                if waiting is not None:
                    waiting.notify_all()
                return 201, body
            self._changed.notify_all()
            return scripted.status, scripted.body

    def wait_for_sent(self, count: int, timeout_s: float = 20.0) -> list[dict[str, object]]:
        """Blocks until ``count`` messages were accepted (replies are sent from turn threads)."""
        with self._changed:
            self._changed.wait_for(lambda: len(self.sent) >= count, timeout=timeout_s)
            return list(self.sent)

    def sent_to(self, phone: str) -> list[dict[str, object]]:
        with self._changed:
            return list(self._sent_to.get(f"whatsapp:{phone}", []))

    def wait_for_sent_to(self, phone: str, count: int, timeout_s: float = 20.0) -> list[dict[str, object]]:
        """Blocks until ``count`` messages to ``phone`` were accepted; returns them (maybe fewer)."""
        key = f"whatsapp:{phone}"
        with self._lock:
            changed = self._changed_to.setdefault(key, threading.Condition(self._lock))
            changed.wait_for(lambda: len(self._sent_to.get(key, [])) >= count, timeout=timeout_s)
            return list(self._sent_to.get(key, []))

    def bodies_to(self, phone: str) -> list[str]:
        return [str(m["body"]) for m in self.sent_to(phone)]


def sign(url: str, params: dict[str, str], auth_token: str = AUTH_TOKEN) -> str:
    """X-Twilio-Signature exactly as Twilio computes it (HMAC-SHA1 of URL + sorted params)."""
    return RequestValidator(auth_token).compute_signature(url, params)


def inbound_form(phone: str, body: str, sid: str | None = None, **extra: str) -> dict[str, str]:
    """The fields Twilio posts for an inbound WhatsApp message."""
    sid = sid or "SM" + uuid.uuid4().hex
    return {
        "SmsMessageSid": sid,
        "MessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": f"whatsapp:{phone}",
        "To": f"whatsapp:{WHATSAPP_FROM}",
        "Body": body,
        "NumMedia": "0",
        "ProfileName": "Ana",
        "WaId": phone.lstrip("+"),
        "ApiVersion": "2010-04-01",
        **extra,
    }


def signed_post(
    form: dict[str, str], path: str = "/channels/whatsapp", base_url: str = PUBLIC_BASE_URL
) -> tuple[bytes, dict[str, str]]:
    """Body and headers of a webhook request as Twilio sends it to ``base_url + path``."""
    return urlencode(form).encode(), {
        "Content-Type": "application/x-www-form-urlencoded; charset=UTF-8",
        "X-Twilio-Signature": sign(base_url + path, form),
        "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
    }
