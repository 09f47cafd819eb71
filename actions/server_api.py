"""Client of the server's internal API, authenticated with the service token."""

from __future__ import annotations

import asyncio
import os
import weakref
from dataclasses import dataclass
from typing import Any

import aiohttp

# One keep-alive connection pool per event loop (the action server runs one): a session per
# call cost a TCP connect and teardown on both sides of every call. Idle connections are
# dropped after 3 s, before uvicorn's 5 s keep-alive closes them from its side, so a request
# never races a closing connection.
KEEPALIVE_S = 3.0
_SESSIONS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.ClientSession] = (
    weakref.WeakKeyDictionary()
)


def _session() -> aiohttp.ClientSession:
    loop = asyncio.get_running_loop()
    session = _SESSIONS.get(loop)
    if session is None or session.closed:
        session = _SESSIONS[loop] = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_S)
        )
    return session


class ServerApiError(RuntimeError):
    """The server could not be reached or failed; the action apologises instead of guessing."""


class ServerGone(Exception):
    """The server dropped the connection while handling the request (it died or restarted): what
    it did is unknown, so the action must not answer as if the call had failed cleanly. Not a
    ServerApiError on purpose: it escapes the actions, the action server answers 500, the turn
    fails inside Rasa and is not saved (the launcher's turn guard), and the gateway runs the message
    again once a server is back. Accepting is idempotent per quote, so a second run of an
    acceptance returns the agreement the first one may have made; a repeated quote or move is a
    fresh offer, as after an action-server crash."""


class _Refused(Exception):
    """No connection to the server (nothing sent): safe to try again, whatever the method."""


@dataclass(frozen=True)
class ApiResponse:
    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class ServerApi:
    base_url: str
    token: str
    timeout_s: float = 10.0
    # A refused connection means the request was never sent (the server is restarting): it is
    # tried again for this long, so a turn in flight during a restart still completes.
    reconnect_s: float = 15.0

    @classmethod
    def from_env(cls) -> ServerApi:
        port = os.environ.get("NEGOCIA_HTTP_PORT", "8000")
        return cls(
            base_url=os.environ.get("NEGOCIA_SERVER_URL", f"http://127.0.0.1:{port}"),
            token=os.environ.get("NEGOCIA_SERVICE_TOKEN", "dev-service-token-change-me"),
        )

    async def _request(
        self, method: str, path: str, json: dict[str, Any] | None = None, allow_404: bool = False
    ) -> ApiResponse:
        loop = asyncio.get_running_loop()
        deadline, delay = loop.time() + self.reconnect_s, 0.25
        while True:
            try:
                return await self._request_once(method, path, json, allow_404)
            except _Refused as refused:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise ServerApiError(f"{method} {path}: {refused.__cause__}") from refused.__cause__
                await asyncio.sleep(min(delay, remaining))
                delay = min(delay * 2, 2.0)

    async def _request_once(
        self, method: str, path: str, json: dict[str, Any] | None, allow_404: bool
    ) -> ApiResponse:
        headers = {"Authorization": f"Bearer {self.token}"}
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        try:
            async with _session().request(
                method, self.base_url + path, json=json, headers=headers, timeout=timeout
            ) as resp:
                body = await resp.json(content_type=None)
                if resp.status >= 500 or resp.status == 401 or (resp.status == 404 and not allow_404):
                    raise ServerApiError(f"{method} {path}: HTTP {resp.status}")
                return ApiResponse(resp.status, body if isinstance(body, dict) else {})
        except aiohttp.ClientConnectorError as exc:
            raise _Refused() from exc
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
            # Sent, and the connection died before an answer: a reset or a close mid-request.
            raise ServerGone(f"{method} {path}: {exc}") from exc
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ServerApiError(f"{method} {path}: {exc}") from exc

    async def context(self, conversation_id: str) -> dict[str, Any]:
        return (await self._request("GET", f"/internal/conversations/{conversation_id}/context")).body

    async def verify(self, conversation_id: str, answer: str) -> dict[str, Any]:
        path = f"/internal/conversations/{conversation_id}/verify"
        return (await self._request("POST", path, {"answer": answer})).body

    async def debts(self, conversation_id: str) -> ApiResponse:
        """200 with the summary, or 403 with the identity status when disclosure is refused."""
        return await self._request("GET", f"/internal/conversations/{conversation_id}/debts")

    async def quote(self, conversation_id: str) -> ApiResponse:
        """200 with the outcome; 403 unverified; 409 nothing to negotiate."""
        return await self._request("POST", f"/internal/conversations/{conversation_id}/quote", {})

    async def move(self, conversation_id: str, move: str, text: str) -> ApiResponse:
        """200 with the outcome; 422 when the debtor's text holds no usable value."""
        path = f"/internal/conversations/{conversation_id}/moves"
        return await self._request("POST", path, {"move": move, "text": text})

    async def accept(
        self, conversation_id: str, quote_id: str, option: str, message_id: str | None
    ) -> ApiResponse:
        path = f"/internal/conversations/{conversation_id}/accept"
        body = {"quote_id": quote_id, "option": option, "message_id": message_id}
        return await self._request("POST", path, body, allow_404=True)

    async def agreement(self, agreement_id: str) -> ApiResponse:
        return await self._request("GET", f"/internal/agreements/{agreement_id}", allow_404=True)

    async def handoff(self, conversation_id: str, reason: str, note: str | None = None) -> dict[str, Any]:
        path = f"/internal/conversations/{conversation_id}/handoff"
        return (await self._request("POST", path, {"reason": reason, "note": note})).body

    async def flag(self, conversation_id: str, flag: str, note: str | None) -> dict[str, Any]:
        path = f"/internal/conversations/{conversation_id}/flags"
        return (await self._request("POST", path, {"flag": flag, "note": note})).body

    async def opt_out(self, conversation_id: str) -> dict[str, Any]:
        return (await self._request("POST", f"/internal/conversations/{conversation_id}/opt-out", {})).body

    async def payments(self, conversation_id: str) -> ApiResponse:
        return await self._request("GET", f"/internal/conversations/{conversation_id}/payments")
