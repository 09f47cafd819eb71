"""Client of the server's internal API, authenticated with the service token."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import aiohttp


class ServerApiError(RuntimeError):
    """The server could not be reached or failed; the action apologises instead of guessing."""


@dataclass(frozen=True)
class ApiResponse:
    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class ServerApi:
    base_url: str
    token: str
    timeout_s: float = 10.0

    @classmethod
    def from_env(cls) -> ServerApi:
        port = os.environ.get("NEGOCIA_HTTP_PORT", "8000")
        return cls(
            base_url=os.environ.get("NEGOCIA_SERVER_URL", f"http://127.0.0.1:{port}"),
            token=os.environ.get("NEGOCIA_SERVICE_TOKEN", "dev-service-token-change-me"),
        )

    async def _request(self, method: str, path: str, json: dict[str, Any] | None = None) -> ApiResponse:
        headers = {"Authorization": f"Bearer {self.token}"}
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.request(method, self.base_url + path, json=json, headers=headers) as resp,
            ):
                body = await resp.json(content_type=None)
                if resp.status >= 500 or resp.status in (401, 404):
                    raise ServerApiError(f"{method} {path}: HTTP {resp.status}")
                return ApiResponse(resp.status, body if isinstance(body, dict) else {})
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
