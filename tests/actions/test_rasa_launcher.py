"""scripts/rasa_run.py: action responses are still validated, with Rasa's own error."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def patched() -> RemoteAction:
    spec = importlib.util.spec_from_file_location("rasa_run", ROOT / "scripts" / "rasa_run.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.install_cached_validator()
    return RemoteAction("action_test", None)


def test_valid_response_passes(patched: RemoteAction) -> None:
    result = {
        "events": [{"event": "slot", "name": "negotiation_stage", "value": "offered"}],
        "responses": [{"response": "utter_greet"}],
    }
    assert patched._validate_action_result(result) is True


@pytest.mark.parametrize(
    "result",
    [
        {"events": [{"event": "slot", "name": 3}], "responses": []},
        {"events": [], "responses": "utter_greet"},
        {"events": [{"event": "no_such_event"}]},
    ],
)
def test_invalid_response_raises_rasas_error(patched: RemoteAction, result: dict) -> None:
    with pytest.raises(ValidationError, match="Failed to validate Action server response"):
        patched._validate_action_result(result)


def _launcher():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("rasa_run_keepalive", ROOT / "scripts" / "rasa_run.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_endpoint_requests_reuse_one_connection_and_keep_rasas_errors() -> None:
    import asyncio

    from aiohttp import web
    from rasa.utils.endpoints import ClientResponseError, EndpointConfig

    original = EndpointConfig.session
    _launcher().install_endpoint_keepalive()
    peers: list[tuple[str, int]] = []

    async def handle(request: web.Request) -> web.Response:
        peers.append(request.transport.get_extra_info("peername"))
        body = await request.json()
        if body.get("fail"):
            return web.json_response({"error": "boom"}, status=500)
        return web.json_response({"echo": body, "token": request.query.get("token")})

    async def scenario() -> None:
        app = web.Application()
        app.router.add_post("/webhook", handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        endpoint = EndpointConfig(f"http://127.0.0.1:{port}/webhook", token="t0k")
        try:
            for n in range(5):
                assert await endpoint.request(json={"n": n}) == {"echo": {"n": n}, "token": "t0k"}
            with pytest.raises(ClientResponseError) as failure:
                await endpoint.request(json={"fail": True})
            assert failure.value.status == 500
            assert await endpoint.request(json={"n": 6}) == {"echo": {"n": 6}, "token": "t0k"}
        finally:
            await runner.cleanup()

    try:
        asyncio.run(scenario())
    finally:
        EndpointConfig.session = original  # type: ignore[method-assign]
    assert len(peers) == 7
    assert len(set(peers)) == 1, "one kept-alive connection for every call"
