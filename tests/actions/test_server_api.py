"""The action server's client of the internal API: a server that is restarting (connection
refused, nothing sent) is waited for; any other failure is an error at once."""

from __future__ import annotations

import asyncio
import socket

import pytest
from aiohttp import web

from actions.server_api import ServerApi, ServerApiError, ServerGone


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start_server(port: int, status: int = 200) -> web.AppRunner:
    async def context(request: web.Request) -> web.Response:
        assert request.headers["Authorization"] == "Bearer t"
        return web.json_response({"identity_status": "verified"}, status=status)

    app = web.Application()
    app.router.add_get("/internal/conversations/{cid}/context", context)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def test_a_server_that_comes_back_within_the_window_answers_the_call() -> None:
    port = free_port()
    api = ServerApi(base_url=f"http://127.0.0.1:{port}", token="t", reconnect_s=10)
    call = asyncio.create_task(api.context("abc"))
    await asyncio.sleep(0.8)  # refused meanwhile: the server is "restarting"
    assert not call.done()
    runner = await start_server(port)
    try:
        assert await asyncio.wait_for(call, 10) == {"identity_status": "verified"}
    finally:
        await runner.cleanup()


async def test_a_server_that_stays_down_is_an_error_after_the_window() -> None:
    api = ServerApi(base_url=f"http://127.0.0.1:{free_port()}", token="t", reconnect_s=0.6)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(ServerApiError):
        await api.context("abc")
    assert 0.5 <= loop.time() - started < 5


async def test_a_server_error_is_not_retried() -> None:
    port = free_port()
    runner = await start_server(port, status=500)
    try:
        api = ServerApi(base_url=f"http://127.0.0.1:{port}", token="t", reconnect_s=10)
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(ServerApiError, match="HTTP 500"):
            await api.context("abc")
        assert loop.time() - started < 2
    finally:
        await runner.cleanup()


async def test_a_server_that_dies_mid_request_fails_the_call_without_a_retry() -> None:
    """The request reached the server and the connection dropped before an answer (the server was
    killed): ServerGone, which the actions do not turn into an apology, and no second request."""
    port = free_port()
    seen: list[str] = []

    async def accept(request: web.Request) -> web.StreamResponse:
        seen.append(await request.text())
        assert request.transport is not None
        request.transport.close()  # gone before answering
        await asyncio.sleep(1)
        return web.Response()

    app = web.Application()
    app.router.add_post("/internal/conversations/{cid}/accept", accept)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        api = ServerApi(base_url=f"http://127.0.0.1:{port}", token="t", reconnect_s=10)
        with pytest.raises(ServerGone) as gone:
            await api.accept("abc", "q1", "cash", "m1")
        assert not isinstance(gone.value, ServerApiError)
        assert len(seen) == 1
    finally:
        await runner.cleanup()


async def test_an_action_lets_a_server_that_died_fail_the_turn() -> None:
    """No apology for a call whose outcome is unknown: the exception reaches rasa_sdk (HTTP 500 to
    Rasa, the turn is not saved) and the gateway runs the message again."""
    from rasa_sdk import Tracker
    from rasa_sdk.executor import CollectingDispatcher

    from actions.negotiation import ActionAcceptAgreement

    class DyingApi(ServerApi):
        async def _request(self, method, path, json=None, allow_404=False):  # type: ignore[no-untyped-def]
            raise ServerGone(f"{method} {path}: Server disconnected")

    dispatcher = CollectingDispatcher()
    tracker = Tracker("abc", {"current_quote": {"id": "q1"}, "pending_option": "cash"},
                      {"text": "sim", "message_id": "m1"}, [], False, None, {}, "action_listen")  # fmt: skip
    with pytest.raises(ServerGone):
        await ActionAcceptAgreement(DyingApi(base_url="http://127.0.0.1:9", token="t")).run(
            dispatcher, tracker, {}
        )
    assert dispatcher.messages == []
