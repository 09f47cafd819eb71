from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

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
