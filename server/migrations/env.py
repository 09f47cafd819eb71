"""Alembic environment: the URL comes from settings (or the caller's config), metadata from models."""

from __future__ import annotations

from typing import Any

from alembic import context

from server.db.models import Base
from server.db.session import make_engine
from server.settings import get_settings

config = context.config
target_metadata = Base.metadata


def include_object(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
    # Rasa's tracker store keeps its `events` table in the same PostgreSQL database: not ours.
    return not (type_ == "table" and reflected and compare_to is None)


def render_item(type_, obj, autogen_context):  # type: ignore[no-untyped-def]
    # Migrations must not import application types: UtcDateTime is a plain timezone-aware DateTime.
    if type_ == "type" and type(obj).__name__ == "UtcDateTime":
        return "sa.DateTime(timezone=True)"
    return False


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or get_settings().database_url


def _run(**connection: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite alters tables by copying them
        include_object=include_object,
        render_item=render_item,
        **connection,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    _run(url=_url(), literal_binds=True)


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection=connection)
        return
    engine = make_engine(_url())
    with engine.connect() as conn:
        _run(connection=conn)
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
