"""Pooled PostgreSQL connections are checked before use only after sitting idle (server/db/session.py):
a connection the server killed while it sat idle is replaced without the caller seeing an error, and
one in constant use is not pinged (no extra round trip per session)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError

from server.db.session import make_engine
from tests.conftest import PG_ADMIN_URL


@pytest.fixture
def pg_engine(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_url, pool_size=1, max_overflow=0, ping_idle_after_s=0.2)
    yield engine
    engine.dispose()


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(pid: int) -> None:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
    admin.dispose()


def _last_query_at_checkout(engine: Engine, pid: int) -> str:
    """What the pool sent on the connection's backend when it was last checked out: read from
    another connection before this checkout runs anything (pg_stat_activity keeps the last query)."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            with admin.connect() as other:
                last = other.execute(
                    text("SELECT query FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
                )
                query = str(last.scalar_one())
            assert int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one()) == pid
        return query.strip().upper()
    finally:
        admin.dispose()


def test_connection_killed_while_idle_is_replaced_before_use(pg_engine: Engine) -> None:
    first = _backend_pid(pg_engine)
    _terminate(first)  # a database restart or an idle timeout, while the connection sat in the pool
    time.sleep(0.3)
    second = _backend_pid(pg_engine)  # no error: the checkout ping saw the dead connection
    assert second != first


def test_connection_in_constant_use_is_not_pinged(postgres_url: str) -> None:
    engine = make_engine(postgres_url, pool_size=1, max_overflow=0, ping_idle_after_s=60)
    try:
        pid = _backend_pid(engine)
        # Checked in a moment ago: the checkout sends nothing (the last query is the checkin's reset).
        assert _last_query_at_checkout(engine, pid) == "ROLLBACK"
    finally:
        engine.dispose()


def test_idle_connection_is_pinged_at_checkout(postgres_url: str) -> None:
    engine = make_engine(postgres_url, pool_size=1, max_overflow=0, ping_idle_after_s=0)
    try:
        pid = _backend_pid(engine)
        assert _last_query_at_checkout(engine, pid) == "SELECT 1"
    finally:
        engine.dispose()


def test_connection_killed_in_constant_use_fails_once_then_the_pool_recovers(postgres_url: str) -> None:
    engine = make_engine(postgres_url, pool_size=1, max_overflow=0, ping_idle_after_s=60)
    try:
        first = _backend_pid(engine)
        _terminate(first)
        with pytest.raises(DBAPIError) as failure:
            _backend_pid(engine)
        assert failure.value.connection_invalidated
        assert _backend_pid(engine) != first
    finally:
        engine.dispose()
