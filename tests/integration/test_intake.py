"""Intake numbering (server/db/repositories.py ``intake``): concurrent messages of one address,
the first ones racing to create its conversation, are numbered 1..N without gaps or repeats, in
the order of their ids, on SQLite and PostgreSQL; a rolled-back message gives its number back."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from server.db import repositories as repo
from server.db.models import Author, Channel, Conversation, Direction, Message

ADDRESS = "+5531991234567"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def accept(factory: sessionmaker[Session], text: str, start: threading.Barrier) -> int:
    start.wait()
    with factory() as session:
        intake = repo.intake(session, Channel.WHATSAPP, ADDRESS, NOW)
        repo.add_message(
            session, intake.conversation_id, direction=Direction.INBOUND, author=Author.CONTACT,
            text=text, ordinal=intake.ordinal,
        )  # fmt: skip
        session.commit()
        return intake.ordinal


def test_concurrent_messages_of_one_address_are_numbered_in_id_order(
    session_factory: sessionmaker[Session], session: Session
) -> None:
    count = 12
    start = threading.Barrier(count)
    with ThreadPoolExecutor(count) as pool:
        ordinals = list(pool.map(lambda i: accept(session_factory, f"m{i}", start), range(count)))
    assert sorted(ordinals) == list(range(1, count + 1))
    rows = session.execute(select(Message.id, Message.ordinal).order_by(Message.id)).all()
    assert [ordinal for _id, ordinal in rows] == list(range(1, count + 1))
    (conversation,) = session.scalars(select(Conversation)).all()
    assert (conversation.inbound_count, conversation.last_inbound_at) == (count, NOW)


def test_a_rolled_back_message_gives_its_number_back(
    session_factory: sessionmaker[Session], session: Session
) -> None:
    with session_factory() as first:
        assert repo.intake(first, Channel.WHATSAPP, ADDRESS, NOW).ordinal == 1
        first.commit()
    with session_factory() as retry:
        assert repo.intake(retry, Channel.WHATSAPP, ADDRESS, NOW).ordinal == 2
        retry.rollback()  # e.g. a provider's retry of a stored message id
    with session_factory() as later:
        intake = repo.intake(later, Channel.WHATSAPP, ADDRESS, NOW)
        later.commit()
    assert intake.ordinal == 2
    assert session.scalar(select(Conversation.inbound_count)) == 2
