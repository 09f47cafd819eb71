"""The twilio client's HTTP layer: rebased onto NEGOCIA_TWILIO_API_BASE_URL, and the environment's
proxy settings (read once, when the client is built) still honoured."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.channels.whatsapp import twilio_client
from tests.fakes_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio


@pytest.fixture
def fakes() -> Iterator[tuple[FakeTwilio, FakeTwilio]]:
    api, proxy = FakeTwilio().start(), FakeTwilio().start()
    yield api, proxy
    api.stop()
    proxy.stop()


@pytest.fixture(autouse=True)
def no_proxy_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def _send(api: FakeTwilio) -> str:
    client = twilio_client(ACCOUNT_SID, AUTH_TOKEN, api.url)
    sent = client.messages.create(from_="whatsapp:+15550001111", to="whatsapp:+5531991234567", body="Olá")
    return str(sent.sid)


def test_requests_go_to_the_base_url(fakes: tuple[FakeTwilio, FakeTwilio]) -> None:
    api, proxy = fakes
    assert _send(api).startswith("SM")
    assert [c.path for c in api.calls] == [f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"]
    assert proxy.calls == []


def test_an_http_proxy_from_the_environment_carries_the_requests(
    fakes: tuple[FakeTwilio, FakeTwilio], monkeypatch: pytest.MonkeyPatch
) -> None:
    api, proxy = fakes
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    _send(api)
    # A forward proxy is asked for the absolute URL.
    assert [c.path for c in proxy.calls] == [f"{api.url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"]
    assert api.calls == []


def test_no_proxy_exempts_the_api_host(
    fakes: tuple[FakeTwilio, FakeTwilio], monkeypatch: pytest.MonkeyPatch
) -> None:
    api, proxy = fakes
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    _send(api)
    assert len(api.calls) == 1 and proxy.calls == []


def test_the_form_is_what_twilios_requests_client_sends(fakes: tuple[FakeTwilio, FakeTwilio]) -> None:
    """Lists as repeated fields, unset values left out, basic auth with the account's SID."""
    api, _proxy = fakes
    client = twilio_client(ACCOUNT_SID, AUTH_TOKEN, api.url)
    client.messages.create(
        from_="whatsapp:+15550001111",
        to="whatsapp:+5531991234567",
        body="Olá, ação & preço = R$ 10",
        media_url=["https://x.test/a.pdf", "https://x.test/b.png?s=1&t=2"],
    )
    (call,) = api.calls
    assert call.account_sid == ACCOUNT_SID
    assert call.form["Body"] == ["Olá, ação & preço = R$ 10"]
    assert call.form["MediaUrl"] == ["https://x.test/a.pdf", "https://x.test/b.png?s=1&t=2"]
    assert "StatusCallback" not in call.form


def test_a_ca_bundle_from_the_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    import certifi

    from bot.channels.whatsapp import TwilioApiHttpClient

    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    assert TwilioApiHttpClient()._http.connection_pool_kw["ca_certs"] == certifi.where()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/company.pem")
    assert TwilioApiHttpClient()._http.connection_pool_kw["ca_certs"] == "/etc/ssl/company.pem"
    with pytest.raises(ValueError):
        TwilioApiHttpClient().request("GET", "https://api.twilio.com/x", timeout=0)


def test_redirects_are_followed_only_when_asked() -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from bot.channels.whatsapp import TwilioApiHttpClient

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/old":
                self.send_response(301)
                self.send_header("Location", "/new")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = b'{"moved": true}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            """No access log on the test's output."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = TwilioApiHttpClient(f"http://127.0.0.1:{server.server_port}")
        stay = client.request("GET", "https://api.twilio.com/old")
        follow = client.request("GET", "https://api.twilio.com/old", allow_redirects=True)
    finally:
        server.shutdown()
    assert stay.status_code == 301
    assert (follow.status_code, follow.text) == (200, '{"moved": true}')
