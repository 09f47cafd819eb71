from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.locks import LocalLocks
from bot.outbox import RetryPolicy
from server.clock import FixedClock
from server.container import Container, whatsapp_channel
from server.db.models import Channel, Contact, Debtor, Invoice
from server.domain.phone import match_key
from server.main import create_app
from server.services.creditor import get_or_create_creditor
from server.services.request_limits import LocalRequestLimiter
from server.settings import Settings
from tests.fakes import EchoDialogue
from tests.fakes_twilio import ACCOUNT_SID as TWILIO_ACCOUNT_SID
from tests.fakes_twilio import AUTH_TOKEN as TWILIO_AUTH_TOKEN
from tests.fakes_twilio import PUBLIC_BASE_URL, WHATSAPP_FROM, FakeTwilio

SERVICE_TOKEN = "test-service-token"
# 2026-11-22 12:00 in São Paulo.
NOW = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(  # type: ignore[call-arg]
        database_url=database_url, service_token=SERVICE_TOKEN, media_dir=tmp_path / "media", _env_file=None
    )


@pytest.fixture
def dialogue() -> EchoDialogue:
    return EchoDialogue()


@pytest.fixture
def container(
    settings: Settings, engine: Engine, session_factory: sessionmaker[Session], dialogue: EchoDialogue
) -> Container:
    return Container(
        settings=settings,
        engine=engine,
        session_factory=session_factory,
        dialogue=dialogue,
        locks=LocalLocks(),
        clock=FixedClock(NOW),
        # Limits count on the test's fixed time: a real minute boundary mid-test would reset
        # the fixed window and let a request through that the test expects refused.
        request_limiter=LocalRequestLimiter(clock=NOW.timestamp),
    )


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container=container)) as c:
        yield c


@pytest.fixture
def portfolio(session: Session, settings: Settings) -> dict[str, int]:
    """Two debtors; Ana's phone is registered for Mercado Bom Preço only."""
    creditor = get_or_create_creditor(session, settings)
    mercado = Debtor(
        creditor_id=creditor.id,
        cnpj="12345678000195",
        cnpj_root="12345678",
        legal_name="Mercado Bom Preço Ltda",
        segment="varejo",
    )
    tech = Debtor(
        creditor_id=creditor.id,
        cnpj="12ABC34501DE35",
        cnpj_root="12ABC345",
        legal_name="Tech Nova Sistemas Ltda",
        segment="serviços",
    )
    session.add_all([mercado, tech])
    session.flush()
    ana = Contact(
        debtor_id=mercado.id,
        name="Ana Souza",
        phone_e164="+5531991234567",
        phone_key=match_key("+5531991234567"),
    )
    bia = Contact(
        debtor_id=tech.id,
        name="Beatriz Alves",
        phone_e164="+5548996665555",
        phone_key=match_key("+5548996665555"),
    )
    session.add_all([ana, bia])
    session.add_all([
        Invoice(creditor_id=creditor.id, debtor_id=mercado.id, number="NF-1", issue_date=date(2026, 10, 3),
                due_date=date(2026, 11, 2), principal=Decimal("2350.00")),
        Invoice(creditor_id=creditor.id, debtor_id=mercado.id, number="NF-2", issue_date=date(2026, 11, 1),
                due_date=date(2026, 12, 1), principal=Decimal("100.00")),
        Invoice(creditor_id=creditor.id, debtor_id=tech.id, number="NF-3", issue_date=date(2026, 9, 1),
                due_date=date(2026, 10, 1), principal=Decimal("990.00")),
    ])  # fmt: skip
    session.commit()
    return {"mercado": mercado.id, "tech": tech.id, "ana": ana.id}


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    fake = FakeTwilio().start()
    yield fake
    fake.stop()


@pytest.fixture
def whatsapp(container: Container, fake_twilio: FakeTwilio) -> Container:
    """The container with WhatsApp on, talking to the fake Twilio; retries do not wait."""
    settings = container.settings
    settings.twilio_account_sid = TWILIO_ACCOUNT_SID
    settings.twilio_auth_token = SecretStr(TWILIO_AUTH_TOKEN)
    settings.twilio_whatsapp_from = WHATSAPP_FROM
    settings.twilio_api_base_url = fake_twilio.url
    settings.public_base_url = PUBLIC_BASE_URL
    container.channels[Channel.WHATSAPP] = whatsapp_channel(
        settings, container.session_factory, container.clock
    )
    container.retry = RetryPolicy(sleep=lambda _seconds: None)
    return container
