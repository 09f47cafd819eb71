from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from server.db.migrate import downgrade, upgrade
from server.db.models import Base


def test_migrations_match_the_models(engine: Engine) -> None:
    """The migrated schema is exactly what the ORM maps, on SQLite and on PostgreSQL."""
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_downgrade_to_base_and_back(database_url: str, engine: Engine) -> None:
    downgrade(database_url, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(database_url)
    assert {"creditors", "debtors", "contacts", "invoices", "conversations", "messages"} <= set(
        inspect(engine).get_table_names()
    )


def test_the_inbound_count_is_backfilled(database_url: str, engine: Engine) -> None:
    """0009 counts each conversation's inbound messages already stored (outbound ones not)."""
    downgrade(database_url, "0008")
    with engine.begin() as conn:
        for public_id in ("c1", "c2"):
            conn.execute(
                text(
                    "INSERT INTO conversations (public_id, channel, address, state, verification_failures, "
                    "created_at, updated_at) VALUES (:p, 'sandbox', :p, 'bot', 0, :t, :t)"
                ),
                {"p": public_id, "t": "2026-12-01 10:00:00+00:00"},
            )
        c1 = conn.execute(text("SELECT id FROM conversations WHERE public_id = 'c1'")).scalar_one()
        for direction in ("inbound", "outbound", "inbound"):
            conn.execute(
                text(
                    "INSERT INTO messages (conversation_id, direction, author, text, attempts, created_at, "
                    "updated_at) VALUES (:c, :d, 'contact', 'oi', 0, :t, :t)"
                ),
                {"c": c1, "d": direction, "t": "2026-12-01 10:00:00+00:00"},
            )
    upgrade(database_url)
    with engine.connect() as conn:
        counts = dict(conn.execute(text("SELECT public_id, inbound_count FROM conversations")).all())
    assert counts == {"c1": 2, "c2": 0}
