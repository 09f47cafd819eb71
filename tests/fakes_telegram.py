"""A local fake of the Telegram Bot API: a real HTTP server on a free port, recording every call.

Implements what negocia uses (getMe, sendMessage, sendPhoto, sendDocument, answerCallbackQuery,
setWebhook, deleteWebhook, getUpdates). Accepts JSON bodies (our sender) and form bodies (PTB).
Also builds the update payloads Telegram would send, for webhook and polling tests.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

BOT_ID = 777000
WAIT_S = 20.0


@dataclass(frozen=True)
class Call:
    method: str
    params: dict[str, Any]


def _decode_form_value(value: str) -> Any:
    # PTB sends nested objects (reply_markup) and numbers JSON-encoded inside form fields.
    try:
        return json.loads(value)
    except ValueError:
        return value


class FakeTelegram:
    def __init__(self, token: str = "123456:TEST-TOKEN") -> None:
        self.token = token
        self.calls: list[Call] = []
        self._failures: dict[str, list[tuple[int, str, int | None]]] = {}
        self._updates: list[dict[str, Any]] = []
        # Files users sent, by file_id: (file_path, content type, bytes) for getFile and downloads.
        self.files: dict[str, tuple[str, str, bytes]] = {}
        self.file_downloads: list[str] = []
        self._message_ids = itertools.count(1)
        self._lock = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeTelegram:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- test controls -------------------------------------------------------------------------

    def fail_next(self, method: str, status: int, description: str, retry_after: int | None = None) -> None:
        with self._lock:
            self._failures.setdefault(method, []).append((status, description, retry_after))

    def add_file(self, file_id: str, content: bytes, content_type: str, file_path: str) -> None:
        with self._lock:
            self.files[file_id] = (file_path, content_type, content)

    def push_update(self, update: dict[str, Any]) -> None:
        """Queue an update for getUpdates (polling)."""
        with self._lock:
            self._updates.append(update)
            self._lock.notify_all()

    def calls_to(self, method: str, chat_id: int | str | None = None) -> list[Call]:
        with self._lock:
            return [
                c
                for c in self.calls
                if c.method == method and (chat_id is None or str(c.params.get("chat_id")) == str(chat_id))
            ]

    def sent_to(self, chat_id: int | str) -> list[Call]:
        """sendMessage, sendPhoto and sendDocument calls to one chat, in order."""
        with self._lock:
            return [
                c
                for c in self.calls
                if c.method in ("sendMessage", "sendPhoto", "sendDocument")
                and str(c.params.get("chat_id")) == str(chat_id)
            ]

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float = WAIT_S) -> None:
        """Block until ``predicate()`` holds (turns run asynchronously after the webhook's 200)."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"condition not met; calls: {[c.method for c in self.calls]}")
                self._lock.wait(min(remaining, 0.2))

    def wait_sent(self, chat_id: int | str, count: int, timeout_s: float = WAIT_S) -> list[Call]:
        self.wait_for(lambda: len(self.sent_to(chat_id)) >= count, timeout_s)
        return self.sent_to(chat_id)

    # -- the API -------------------------------------------------------------------------------

    def _answer(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.calls.append(Call(method, params))
            self._lock.notify_all()
            failures = self._failures.get(method)
            if failures:
                status, description, retry_after = failures.pop(0)
                body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
                if retry_after is not None:
                    body["parameters"] = {"retry_after": retry_after}
                return status, body
        if method == "getMe":
            return 200, {"ok": True, "result": self._me()}
        if method in ("sendMessage", "sendPhoto", "sendDocument"):
            if "chat_id" not in params:
                return 400, {"ok": False, "error_code": 400, "description": "Bad Request: chat_id is empty"}
            message: dict[str, Any] = {
                "message_id": next(self._message_ids),
                "date": int(time.time()),
                "chat": {"id": int(params["chat_id"]), "type": "private"},
                "from": self._me(),
            }
            if "text" in params:
                message["text"] = params["text"]
            return 200, {"ok": True, "result": message}
        if method == "getFile":
            stored = self.files.get(str(params.get("file_id")))
            if stored is None:
                return 400, {"ok": False, "error_code": 400, "description": "Bad Request: invalid file_id"}
            file_path, _type, content = stored
            result = {"file_id": params["file_id"], "file_unique_id": f"u{params['file_id']}",
                      "file_size": len(content), "file_path": file_path}  # fmt: skip
            return 200, {"ok": True, "result": result}
        if method in ("answerCallbackQuery", "setWebhook", "deleteWebhook"):
            return 200, {"ok": True, "result": True}
        if method == "getUpdates":
            return 200, {"ok": True, "result": self._get_updates(params)}
        return 404, {"ok": False, "error_code": 404, "description": "Not Found"}

    def _me(self) -> dict[str, Any]:
        return {"id": BOT_ID, "is_bot": True, "first_name": "Negocia", "username": "negocia_teste_bot"}

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        # A short long-poll: answer as soon as an update is queued, empty after a moment.
        wait = min(float(params.get("timeout") or 0), 0.5)
        with self._lock:
            self._lock.wait_for(lambda: any(u["update_id"] >= offset for u in self._updates), wait)
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            return list(self._updates)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self._serve()

            def do_GET(self) -> None:
                self._serve()

            def _serve(self) -> None:
                files = f"/file/bot{fake.token}/"
                if self.path.startswith(files):
                    self._file(self.path[len(files) :])
                    return
                prefix = f"/bot{fake.token}/"
                if not self.path.startswith(prefix):
                    self._reply(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
                    return
                method = self.path[len(prefix) :].split("?")[0]
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                content_type = self.headers.get("Content-Type", "")
                if "json" in content_type:
                    params = json.loads(raw or b"{}")
                else:
                    params = {k: _decode_form_value(v) for k, v in parse_qsl(raw.decode())}
                status, body = fake._answer(method, params)
                self._reply(status, body)

            def _file(self, file_path: str) -> None:
                with fake._lock:
                    fake.file_downloads.append(file_path)
                    found = [(t, c) for p, t, c in fake.files.values() if p == file_path]
                content_type, data = found[0] if found else ("text/plain", b"Not Found")
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@contextmanager
def running_fake(token: str = "123456:TEST-TOKEN") -> Iterator[FakeTelegram]:
    fake = FakeTelegram(token).start()
    try:
        yield fake
    finally:
        fake.stop()


# -- what Telegram sends --------------------------------------------------------------------------

_update_ids = itertools.count(1000)


def next_update_id() -> int:
    return next(_update_ids)


def _user(user_id: int, first_name: str = "Ana") -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": "pt-br"}


def _message(user_id: int, **content: Any) -> dict[str, Any]:
    return {
        "message_id": next_update_id(),
        "date": int(time.time()),
        "chat": {"id": user_id, "type": "private", "first_name": "Ana"},
        "from": _user(user_id),
        **content,
    }


def text_update(user_id: int, text: str, update_id: int | None = None) -> dict[str, Any]:
    return {"update_id": update_id or next_update_id(), "message": _message(user_id, text=text)}


def contact_update(
    user_id: int, phone: str, contact_user_id: int | None, update_id: int | None = None
) -> dict[str, Any]:
    contact: dict[str, Any] = {"phone_number": phone, "first_name": "Ana"}
    if contact_user_id is not None:
        contact["user_id"] = contact_user_id
    return {"update_id": update_id or next_update_id(), "message": _message(user_id, contact=contact)}


def callback_update(user_id: int, data: str, update_id: int | None = None) -> dict[str, Any]:
    return {
        "update_id": update_id or next_update_id(),
        "callback_query": {
            "id": f"cb{next_update_id()}",
            "from": _user(user_id),
            "chat_instance": "ci-1",
            "data": data,
            "message": _message(BOT_ID, text="Qual opção você prefere?")
            | {"chat": {"id": user_id, "type": "private"}},
        },
    }


def photo_update(user_id: int, update_id: int | None = None, caption: str | None = None) -> dict[str, Any]:
    """Telegram sends a photo in several sizes, smallest first."""
    photo = [
        {"file_id": "AgAD1-small", "file_unique_id": "u1s", "width": 90, "height": 90},
        {"file_id": "AgAD1", "file_unique_id": "u1", "width": 800, "height": 800},
    ]
    extra = {"caption": caption} if caption else {}
    return {"update_id": update_id or next_update_id(), "message": _message(user_id, photo=photo, **extra)}


def document_update(
    user_id: int, file_id: str, mime_type: str, file_name: str, update_id: int | None = None
) -> dict[str, Any]:
    document = {
        "file_id": file_id,
        "file_unique_id": f"u{file_id}",
        "file_name": file_name,
        "mime_type": mime_type,
    }
    return {"update_id": update_id or next_update_id(), "message": _message(user_id, document=document)}


def voice_update(user_id: int, file_id: str, update_id: int | None = None) -> dict[str, Any]:
    voice = {"file_id": file_id, "file_unique_id": f"u{file_id}", "duration": 3, "mime_type": "audio/ogg"}
    return {"update_id": update_id or next_update_id(), "message": _message(user_id, voice=voice)}


def location_update(user_id: int, update_id: int | None = None) -> dict[str, Any]:
    location = {"latitude": -19.93, "longitude": -43.94}
    return {"update_id": update_id or next_update_id(), "message": _message(user_id, location=location)}
