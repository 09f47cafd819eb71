"""The HTTP edge: abuse limits (429 with Retry-After), body size (413), request ids, security
headers, Prometheus metrics. The limits are set low per test; SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from server.container import Container
from server.main import create_app
from tests.fakes_twilio import inbound_form, signed_post
from tests.integration.test_pix_webhook import post_pix

ANA = "+5531991234567"
BIA = "+5548996665555"


def sandbox(client: TestClient, sender: str = ANA, text: str = "oi", **headers: str):  # type: ignore[no-untyped-def]
    return client.post("/channels/sandbox/messages", json={"sender": sender, "text": text}, headers=headers)


# -- rate limits ------------------------------------------------------------------------------


def test_sandbox_sender_limit_is_429_with_retry_after_and_reason(
    client: TestClient, container: Container
) -> None:
    container.settings.rate_limit_sender_per_minute = 3
    assert [sandbox(client).status_code for _ in range(3)] == [200, 200, 200]
    refused = sandbox(client)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "muitas mensagens deste remetente" in refused.json()["detail"]
    # The same phone written another way is the same sender; another phone is not limited.
    assert sandbox(client, "(31) 99123-4567").status_code == 429
    assert sandbox(client, BIA).status_code == 200


def test_sandbox_ip_limit_counts_every_sender_of_one_address(
    client: TestClient, container: Container
) -> None:
    container.settings.rate_limit_ip_sandbox_per_minute = 2
    assert sandbox(client, ANA).status_code == 200
    assert sandbox(client, BIA).status_code == 200
    refused = sandbox(client, "+5521988887777")
    assert refused.status_code == 429
    assert "muitas requisições deste endereço" in refused.json()["detail"]
    assert refused.headers["Retry-After"].isdigit()


def test_limits_can_be_switched_off(client: TestClient, container: Container) -> None:
    container.settings.rate_limit_sender_per_minute = 1
    container.settings.rate_limit_enabled = False
    assert [sandbox(client).status_code for _ in range(3)] == [200, 200, 200]


@pytest.mark.usefixtures("whatsapp")
def test_whatsapp_sender_limit_applies_after_the_signature(client: TestClient, container: Container) -> None:
    container.settings.rate_limit_sender_per_minute = 2
    statuses = []
    for i in range(3):
        body, headers = signed_post(inbound_form(ANA, f"oi {i}"))
        statuses.append(client.post("/channels/whatsapp", content=body, headers=headers).status_code)
    assert statuses == [200, 200, 429]
    container.turns.wait_idle(30)


def test_pix_webhook_ip_limit(client: TestClient, container: Container) -> None:
    container.settings.rate_limit_ip_webhook_per_minute = 1
    assert post_pix(client, {"pix": []}).status_code != 429
    refused = post_pix(client, {"pix": []})
    assert refused.status_code == 429 and "Retry-After" in refused.headers


# -- body size --------------------------------------------------------------------------------


def test_declared_body_above_the_limit_is_413(client: TestClient) -> None:
    big = b'{"sender": "+5531991234567", "text": "' + b"a" * (1024 * 1024 + 10) + b'"}'
    r = client.post("/channels/sandbox/messages", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert "acima do limite" in r.json()["detail"]


def test_streamed_body_above_the_limit_is_413(client: TestClient, container: Container) -> None:
    container_limit = container.settings.max_body_bytes

    def chunks() -> Iterator[bytes]:
        for _ in range(container_limit // 65536 + 2):
            yield b"a" * 65536

    form = "application/x-www-form-urlencoded"
    for path, kind in [("/channels/sandbox/messages", "application/json"), ("/api/auth/token", form),
                       ("/webhooks/pix", "application/json"), ("/console/login", form)]:  # fmt: skip
        r = client.post(path, content=chunks(), headers={"Content-Type": kind})
        assert r.status_code == 413, path


# -- request ids, headers ---------------------------------------------------------------------


def test_request_id_is_echoed_or_generated(client: TestClient) -> None:
    given = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["X-Request-ID"] == "abc-123"
    generated = client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["X-Request-ID"])
    hostile = client.get("/healthz", headers={"X-Request-ID": "x" * 65})
    assert hostile.headers["X-Request-ID"] != "x" * 65


def test_pages_get_a_nonce_csp_that_matches_their_inline_scripts(client: TestClient) -> None:
    page = client.get("/sandbox")
    assert page.status_code == 200
    csp = page.headers["Content-Security-Policy"]
    assert (
        "frame-ancestors 'none'" in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    )
    nonce = re.search(r"'nonce-([^']+)'", csp)
    assert nonce is not None
    scripts = re.findall(r"<script([^>]*)>", page.text)
    assert scripts and all(f'nonce="{nonce.group(1)}"' in attrs for attrs in scripts)
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "Strict-Transport-Security" not in page.headers  # plain http here
    other = client.get("/sandbox").headers["Content-Security-Policy"]
    assert other != csp  # a fresh nonce per response


def test_api_responses_get_the_headers_and_hsts_behind_https(container: Container) -> None:
    container.settings.public_base_url = "https://negocia.example.com"
    with TestClient(create_app(container=container)) as client:
        r = client.get("/healthz")
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Strict-Transport-Security"].startswith("max-age=")
    assert "Content-Security-Policy" not in r.headers  # JSON, not a page


# -- metrics ----------------------------------------------------------------------------------


def _value(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if not line.startswith(name + ("{" if labels else " ")):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_turns_sends_webhooks_and_show_queue_depth(client: TestClient) -> None:
    before = client.get("/metrics").text
    assert sandbox(client).status_code == 200
    after = client.get("/metrics")
    assert after.status_code == 200 and after.headers["content-type"].startswith("text/plain")
    text = after.text
    assert (
        _value(text, "negocia_turns_total", outcome="ok")
        == _value(before, "negocia_turns_total", outcome="ok") + 1
    )
    assert (
        _value(text, "negocia_turn_latency_seconds_count")
        == _value(before, "negocia_turn_latency_seconds_count") + 1
    )
    assert _value(text, "negocia_sends_total", channel="sandbox", status="delivered") >= 1
    route = "/channels/sandbox/messages"
    assert _value(text, "negocia_webhook_requests_total", route=route, status="200") == (
        _value(before, "negocia_webhook_requests_total", route=route, status="200") + 1
    )
    assert 'negocia_queue_depth{queue="pending_inbound_messages"} 0.0' in text
    assert 'negocia_queue_depth{queue="scheduled_reminders"} 0.0' in text


def test_metrics_token_when_configured(client: TestClient, container: Container) -> None:
    from pydantic import SecretStr

    container.settings.metrics_token = SecretStr("scrape-secret")
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"}).status_code == 200
