"""A broken agreement with ``broken_action = renegotiate`` (SQLite and PostgreSQL, fake Twilio):
what the debtor receives is an invitation that names the creditor and carries no figures; no
quote is made before the debtor answers; the reopened invoices are what the engine quotes, under
the policy in force, once the debtor writes back and proves who they are (README, "Reminders and
payments": why inviting rather than pushing a quote)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.clock import FixedClock
from server.container import Container
from server.db.models import Agreement, AgreementStatus, Author, Invoice, InvoiceStatus, Message, Quote
from server.services.creditor import get_or_create_creditor
from server.services.negotiation import open_negotiation
from server.services.policy import active_policy
from tests.fakes_twilio import FakeTwilio
from tests.integration.test_dunning_schedule import add_agreement, add_debtor


def test_a_broken_agreement_sends_an_invitation_and_the_engine_quotes_only_after_the_reply(
    whatsapp: Container, fake_twilio: FakeTwilio, session: Session
) -> None:
    clock = whatsapp.clock
    assert isinstance(clock, FixedClock)
    creditor = get_or_create_creditor(session, whatsapp.settings).id
    contact = add_debtor(session, creditor, 400, "+5511944443333", None)
    agreement = add_agreement(session, creditor, contact, date(2026, 12, 1))  # never paid
    session.commit()
    clock.at = datetime(2026, 12, 11, 15, tzinfo=UTC)  # Friday 12:00 in São Paulo, 10 days late

    whatsapp.dunning.run_once()

    session.expire_all()
    assert session.get(Agreement, agreement.id).status == AgreementStatus.BROKEN  # type: ignore[union-attr]
    template = whatsapp.catalogue["negocia_renegociacao"]
    calls = [c for c in fake_twilio.sent if c["content_sid"] == template.content_sid]
    assert len(calls) == 1 and calls[0]["to"] == f"whatsapp:{contact.phone_e164}"
    assert json.loads(str(calls[0]["content_variables"])) == {
        "1": "Contato400",
        "2": whatsapp.settings.creditor_trade_name,
    }
    message = session.scalar(
        select(Message)
        .where(Message.author == Author.SYSTEM, Message.payload.is_not(None))
        .order_by(Message.id.desc())
    )
    assert message is not None and message.payload["reminder"].endswith(f":renegotiation:{contact.id}")  # type: ignore[index]
    assert whatsapp.settings.creditor_trade_name in message.text and "responda" in message.text
    assert "R$" not in message.text and "000201" not in message.text  # no amounts, no PIX code
    assert session.scalar(select(func.count()).select_from(Quote)) == 0  # nothing offered unasked

    # When the debtor answers (and has confirmed the CNPJ root in the chat), the engine quotes the
    # reopened invoice under the policy version in force at that moment.
    reopened = session.scalar(select(Invoice).where(Invoice.number == f"NF-A{contact.id}"))
    assert reopened is not None and reopened.status == InvoiceStatus.OPEN
    result = open_negotiation(session, contact.debtor, date(2026, 12, 11), now=clock.at)
    version, _ = active_policy(session)
    assert result.quote is not None and result.quote.policy_version_id == version.id
    assert result.quote.invoice_ids == [reopened.id]
