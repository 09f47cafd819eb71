"""Fuzzing the inbound HTTP surface through the real app (hypothesis, bounded; SQLite): WhatsApp
forms (correctly signed, so parsing is reached), Telegram updates (with the secret header), PIX
notifications (correctly signed) and sandbox messages. Whatever arrives: a 2xx or a 4xx with a
reason, never a 500. Crashers found are kept at the end as explicit regression tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.api.routes.payments import sign_body
from server.container import Container
from server.main import create_app
from server.settings import Settings
from tests.fakes_telegram import FakeTelegram, running_fake
from tests.fakes_twilio import PUBLIC_BASE_URL, inbound_form, sign
from tests.integration.conftest import SERVICE_TOKEN

FUZZ = settings(
    max_examples=150, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)  # fmt: skip
PIX_SECRET = "dev-pix-webhook-secret-change-me"
TG_SECRET = "fuzz-secret-token"
TEXT = st.text(max_size=40)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT,  # JSON has neither
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)


@pytest.fixture
def database_url(tmp_path: Path) -> str:  # SQLite only: the parsing, not the database, is fuzzed
    from server.db.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'fuzz.db'}"
    upgrade(url)
    return url


@pytest.fixture
def fake_telegram() -> Iterator[FakeTelegram]:
    with running_fake() as fake:
        yield fake


@pytest.fixture
def settings_(database_url: str, fake_telegram: FakeTelegram, tmp_path: Path) -> Settings:
    return Settings(  # type: ignore[call-arg]
        database_url=database_url, service_token=SERVICE_TOKEN, media_dir=tmp_path / "media",
        telegram_bot_token=fake_telegram.token, telegram_secret_token=TG_SECRET,
        telegram_api_base_url=fake_telegram.base_url, rate_limit_enabled=False, _env_file=None,
    )  # fmt: skip


@pytest.fixture
def fuzz_client(whatsapp: Container, settings_: Settings) -> Iterator[TestClient]:
    for name in ("telegram_bot_token", "telegram_secret_token", "telegram_api_base_url", "media_dir"):
        setattr(whatsapp.settings, name, getattr(settings_, name))
    whatsapp.settings.rate_limit_enabled = False
    with TestClient(create_app(container=whatsapp), raise_server_exceptions=False) as client:
        yield client
    whatsapp.turns.wait_idle(30)


def _whatsapp(client: TestClient, form: dict[str, str]) -> int:
    url = PUBLIC_BASE_URL + "/channels/whatsapp"
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sign(url, form)}
    return client.post("/channels/whatsapp", content=urlencode(form), headers=headers).status_code


TWILIO_FIELDS = st.sampled_from(
    ["MessageSid", "SmsMessageSid", "From", "Body", "NumMedia", "MediaUrl0", "MediaContentType0",
     "MessageType", "Latitude", "Longitude", "ProfileName", "WaId", "ButtonPayload", "x"]
)  # fmt: skip


@FUZZ
@given(st.dictionaries(TWILIO_FIELDS, TEXT, max_size=8), st.booleans())
def test_whatsapp_signed_forms_never_500(fuzz_client: TestClient, fields: dict[str, str], base: bool) -> None:
    form = {**inbound_form("+5531991234567", "oi"), **fields} if base else fields
    assert _whatsapp(fuzz_client, form) < 500


@FUZZ
@given(st.binary(max_size=300), st.sampled_from(["application/x-www-form-urlencoded", "text/plain", ""]))
def test_whatsapp_raw_bodies_never_500(fuzz_client: TestClient, body: bytes, content_type: str) -> None:
    headers = {"Content-Type": content_type, "X-Twilio-Signature": "x"}
    assert fuzz_client.post("/channels/whatsapp", content=body, headers=headers).status_code < 500
    assert fuzz_client.post("/channels/whatsapp/status", content=body, headers=headers).status_code < 500


UPDATE_KINDS = st.sampled_from(
    ["message", "edited_message", "callback_query", "channel_post", "my_chat_member"]
)


@FUZZ
@given(st.integers(-(2**40), 2**40), UPDATE_KINDS, st.dictionaries(TEXT, JSON, max_size=6), JSON)
def test_telegram_updates_never_500(
    fuzz_client: TestClient, update_id: int, kind: str, part: dict[str, Any], extra: Any
) -> None:
    base = {
        "message_id": 1,
        "date": 1,
        "chat": {"id": 9, "type": "private"},
        "from": {"id": 9, "is_bot": False, "first_name": "A"},
    }
    update = {"update_id": update_id, kind: {**base, **part}, "extra": extra}
    headers = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET, "Content-Type": "application/json"}
    assert (
        fuzz_client.post("/channels/telegram", content=json.dumps(update), headers=headers).status_code < 500
    )
    raw = json.dumps(extra).encode()
    assert fuzz_client.post("/channels/telegram", content=raw, headers=headers).status_code < 500


PIX_ITEM = st.fixed_dictionaries(
    {},
    optional={"endToEndId": TEXT, "txid": TEXT, "valor": TEXT | JSON, "horario": TEXT | JSON, "chave": TEXT,
              "infoPagador": JSON},
)  # fmt: skip


@FUZZ
@given(st.one_of(JSON, st.fixed_dictionaries({"pix": st.lists(PIX_ITEM, max_size=3)})))
def test_pix_signed_notifications_never_500(fuzz_client: TestClient, body: Any) -> None:
    raw = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "X-Negocia-Signature": sign_body(raw, PIX_SECRET)}
    assert fuzz_client.post("/webhooks/pix", content=raw, headers=headers).status_code < 500


@FUZZ
@given(JSON)
def test_sandbox_bodies_never_500(fuzz_client: TestClient, body: Any) -> None:
    assert fuzz_client.post("/channels/sandbox/messages", json=body).status_code < 500
    if isinstance(body, dict):
        body = {"sender": "+5531991234567", "text": "oi", **body}
        assert fuzz_client.post("/channels/sandbox/messages", json=body).status_code < 500


# -- crashers found by the fuzzing, kept as regression tests ---------------------------------
