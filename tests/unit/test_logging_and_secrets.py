"""Structured logs with masked personal data; secrets never in settings' repr or in logs;
production mode refuses the development defaults."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

from bot.channels.whatsapp import twilio_client
from server.logging_setup import (
    CHATTY_LOGGERS,
    JsonFormatter,
    PiiMaskingFilter,
    build_handler,
    configure_logging,
    conversation_context,
    mask_name,
    mask_text,
    request_id_var,
)
from server.main import create_app
from server.settings import Settings
from tests.fakes_twilio import ACCOUNT_SID as TWILIO_SID
from tests.fakes_twilio import AUTH_TOKEN as TWILIO_TOKEN
from tests.fakes_twilio import FakeTwilio


@pytest.mark.parametrize(
    "raw",
    ["+5531991234567", "(11) 98765-4321", "+55 11 98765-4321", "11987654321", "31 99123-4567"],
)
def test_phones_are_masked_keeping_two_digits(raw: str) -> None:
    masked = mask_text(f"sender {raw} wrote")
    assert masked.startswith("sender <tel:***") and masked.endswith("> wrote")
    digits = "".join(c for c in raw if c.isdigit())
    assert digits[-6:] not in masked


@pytest.mark.parametrize(
    "raw", ["12.345.678/0001-95", "12345678000195", "12.ABC.345/01DE-35", "12ABC34501DE35"]
)
def test_cnpjs_are_masked(raw: str) -> None:
    masked = mask_text(f"debtor {raw}")
    assert masked == "debtor <cnpj:12***>"


def test_emails_and_names_are_masked_and_ordinary_text_is_kept() -> None:
    assert mask_text("ana.souza@mercado.com.br respondeu") == "<email:***@mercado.com.br> respondeu"
    assert mask_name("Ana Souza") == "A** S****"
    assert mask_text("turn 42 took 120 ms; invoice NF-1") == "turn 42 took 120 ms; invoice NF-1"


def _capture() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    logger = logging.getLogger(f"negocia.test.{id(stream)}")
    logger.handlers = [build_handler("json", stream)]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


def test_json_lines_carry_request_and_conversation_ids_and_mask_arguments() -> None:
    logger, stream = _capture()
    token = request_id_var.set("req-1")
    try:
        with conversation_context("conv-9"):
            logger.info(
                "contact %s of %s", "+5531991234567", "12345678000195", extra={"contact_name": "Ana Souza"}
            )
        logger.info("after the turn")
    finally:
        request_id_var.reset(token)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "contact <tel:***67> of <cnpj:12***>"
    assert first["request_id"] == "req-1" and first["conversation_id"] == "conv-9"
    assert first["contact_name"] == "A** S****"
    assert first["level"] == "info" and "time" in first
    assert second["request_id"] == "req-1" and "conversation_id" not in second


def test_exceptions_are_masked_too() -> None:
    logger, stream = _capture()
    try:
        raise ValueError("telefone inválido: +5531991234567")
    except ValueError:
        logger.exception("falhou")
    entry = json.loads(stream.getvalue())
    assert "991234567" not in entry["exception"] and "<tel:***67>" in entry["exception"]


def test_filter_survives_a_bad_format_string() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%d items", ("not a number",), None)
    assert PiiMaskingFilter().filter(record)
    assert JsonFormatter().format(record)


SECRETS = {
    "service_token": "svc-secret-value-123456",
    "secret_key": "signing-secret-value-123456",
    "pix_webhook_secret": "pix-secret-value-123456",
    "twilio_auth_token": "twilio-secret-value-123456",
    "telegram_bot_token": "123:telegram-secret-value",
    "telegram_secret_token": "tg-header-secret-value",
    "rasa_auth_token": "rasa-secret-value-123456",
    "metrics_token": "metrics-secret-value-123456",
}


def test_settings_repr_and_logs_never_show_secrets() -> None:
    settings = Settings(_env_file=None, **SECRETS)  # type: ignore[arg-type]
    for name in SECRETS:
        assert isinstance(getattr(settings, name), SecretStr), name
    logger, stream = _capture()
    logger.info("settings: %s", settings)
    logger.info("settings: %r", settings.model_dump())
    shown = repr(settings) + str(settings) + stream.getvalue()
    for value in SECRETS.values():
        assert value not in shown


def test_secrets_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEGOCIA_SERVICE_TOKEN", "from-the-environment-123")
    assert Settings(_env_file=None).service_token.get_secret_value() == "from-the-environment-123"  # type: ignore[call-arg]


def test_production_refuses_development_defaults() -> None:
    unsafe = Settings(_env_file=None, env="production")  # type: ignore[call-arg]
    problems = unsafe.production_problems()
    assert any("NEGOCIA_SERVICE_TOKEN" in p for p in problems)
    assert any("NEGOCIA_SECRET_KEY" in p for p in problems)
    with pytest.raises(RuntimeError, match="configuração insegura para produção"):
        create_app(unsafe)
    safe = Settings(  # type: ignore[call-arg]
        _env_file=None,
        env="production",
        database_url="postgresql+psycopg://negocia@db/negocia",
        sandbox_enabled=False,
        **{
            k: v
            for k, v in SECRETS.items()
            if k in ("service_token", "secret_key", "pix_webhook_secret", "rasa_auth_token")
        },
    )
    assert safe.production_problems() == []
    create_app(safe)  # builds (the container is created at startup, not here)
    assert Settings(_env_file=None).production_problems() != []  # development: allowed, just listed


@pytest.fixture
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    chatty = {name: logging.getLogger(name).level for name in CHATTY_LOGGERS}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in chatty.items():
        logging.getLogger(name).setLevel(old)


def _twilio_send_and_http_call(fake: FakeTwilio) -> None:
    client = twilio_client(TWILIO_SID, TWILIO_TOKEN, fake.url)
    client.messages.create(from_="whatsapp:+15550001111", to="whatsapp:+5531991234567", body="Olá")
    httpx.get(fake.url + "/nowhere")  # any answer: the call is what httpx logs
    logging.getLogger("uvicorn.access").info('127.0.0.1:1 - "POST /channels/whatsapp HTTP/1.1" 200')
    logging.getLogger("twilio.http_client").warning("Twilio retry")


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    fake = FakeTwilio().start()
    yield fake
    fake.stop()


def test_library_request_chatter_is_dropped_above_debug(root_logging: None, fake: FakeTwilio) -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    _twilio_send_and_http_call(fake)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    # Only the library's warning: no request dumps, no duplicate access line.
    assert [(line["logger"], line["message"]) for line in lines] == [("twilio.http_client", "Twilio retry")]

    stream = io.StringIO()
    configure_logging("DEBUG", "json", stream)
    _twilio_send_and_http_call(fake)
    loggers = [json.loads(line)["logger"] for line in stream.getvalue().splitlines()]
    assert loggers.count("twilio.http_client") > 5
    assert "httpx" in loggers and "uvicorn.access" in loggers
