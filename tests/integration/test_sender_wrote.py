"""``identity.sender_wrote``: a turn records when the sender wrote on every contact they may be
and on the conversation's verified contact, and says whether the sender is a known one (SQLite
and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db.models import Channel, Contact, Conversation, Creditor, Debtor
from server.services.identity import sender_wrote

WHEN = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)


def _contacts(session: Session) -> dict[str, Contact]:
    creditor = Creditor(legal_name="Credora SA", trade_name="Credora", cnpj="11222333000181")
    debtor = Debtor(creditor=creditor, cnpj="22333444000190", cnpj_root="22333444", legal_name="Devedora")
    contacts = {
        "ana": Contact(debtor=debtor, name="Ana", phone_e164="+5531991234567", phone_key="3191234567"),
        "ana_again": Contact(
            debtor=debtor, name="Ana (fiscal)", phone_e164="+553191234567", phone_key="3191234567"
        ),
        "bia": Contact(debtor=debtor, name="Bia", phone_e164="+5511988887777", phone_key="1188887777"),
        "caio": Contact(debtor=debtor, name="Caio", telegram_user_id=424242),
    }
    session.add_all(contacts.values())
    session.commit()
    return contacts


def _wrote(session: Session) -> set[str]:
    session.expire_all()
    return {c.name for c in session.scalars(select(Contact).where(Contact.last_inbound_at.is_not(None)))}


def test_every_contact_of_the_phone_and_the_verified_contact_are_marked(session: Session) -> None:
    contacts = _contacts(session)
    conversation = Conversation(
        channel=Channel.WHATSAPP, address="+5531991234567", contact_id=contacts["bia"].id
    )
    session.add(conversation)
    session.commit()
    assert sender_wrote(session, conversation, WHEN) is True
    session.commit()
    assert _wrote(session) == {"Ana", "Ana (fiscal)", "Bia"}
    assert session.get(Contact, contacts["ana"].id).last_inbound_at == WHEN  # type: ignore[union-attr]


def test_an_unknown_phone_is_not_a_known_sender_but_its_verified_contact_is_marked(session: Session) -> None:
    contacts = _contacts(session)
    stranger = Conversation(channel=Channel.WHATSAPP, address="+5521977776666")
    verified = Conversation(channel=Channel.SANDBOX, address="+5521977776666", contact_id=contacts["bia"].id)
    broken = Conversation(channel=Channel.WHATSAPP, address="not a phone")
    session.add_all([stranger, verified, broken])
    session.commit()
    assert sender_wrote(session, stranger, WHEN) is False
    assert sender_wrote(session, broken, WHEN) is False
    assert _wrote(session) == set()
    assert sender_wrote(session, verified, WHEN) is False
    session.commit()
    assert _wrote(session) == {"Bia"}


def test_a_telegram_user_is_matched_by_id(session: Session) -> None:
    _contacts(session)
    known = Conversation(channel=Channel.TELEGRAM, address="424242")
    unknown = Conversation(channel=Channel.TELEGRAM, address="5")
    session.add_all([known, unknown])
    session.commit()
    assert sender_wrote(session, unknown, WHEN) is False
    assert sender_wrote(session, known, WHEN) is True
    session.commit()
    assert _wrote(session) == {"Caio"}
