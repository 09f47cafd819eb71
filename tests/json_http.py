"""A JSON-over-HTTP server on a loopback port, for fakes of the HTTP services we call (Rasa's REST
channel, an action server). Standard library only: the app's tests and the actions' tests
(.venv-rasa) both use it."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# (method, path with query, JSON body or None) -> (status, JSON body)
Handler = Callable[[str, str, Any], "tuple[int, Any]"]


class JsonServer:
    """Answers each request with what ``handle`` returns; records (method, path, body)."""

    def __init__(self, handle: Handler) -> None:
        self.requests: list[tuple[str, str, Any]] = []
        outer = self

        class RequestHandler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                outer.requests.append((self.command, self.path, body))
                status, answer = handle(self.command, self.path, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _serve

            def log_message(self, *args: Any) -> None:
                """No request line on stderr for every call (http.server's default)."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def closed_port_url() -> str:
    """A loopback URL nothing listens on (a service that is down): the port is free once the
    socket that found it is closed."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"
