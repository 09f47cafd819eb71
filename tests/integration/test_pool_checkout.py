"""PostgreSQL connections are checked out without a ping unless the server has spoken on them
(server/db/session.py): a connection the server ended is replaced before anyone uses it, one
with a notification waiting is pinged and kept, and an idle healthy one costs no round trip."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, event, text

from server.db.session import make_engine


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_url, pool_size=2, max_overflow=0)
    yield engine
    engine.dispose()


def backend_pids(engine: Engine) -> set[int]:
    """The server processes of the pool's connections, each checked out in turn."""
    with engine.connect() as a, engine.connect() as b:
        return {int(a.execute(text("SELECT pg_backend_pid()")).scalar_one()),
                int(b.execute(text("SELECT pg_backend_pid()")).scalar_one())}  # fmt: skip


def statements(engine: Engine) -> list[str]:
    sent: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda _c, _cur, stmt, *_: sent.append(stmt))
    return sent


def pings(engine: Engine) -> list[object]:
    """The pings the dialect sends (SQLAlchemy's own do_ping, which this check calls)."""
    done: list[object] = []
    original = engine.dialect.do_ping

    def counted(dbapi_connection: object) -> bool:
        done.append(dbapi_connection)
        return bool(original(dbapi_connection))

    engine.dialect.do_ping = counted  # type: ignore[method-assign]
    return done


def test_connections_the_server_ended_are_replaced_before_use(engine: Engine, postgres_url: str) -> None:
    before = backend_pids(engine)
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for pid in before:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid}).scalar_one()
    admin.dispose()
    done = pings(engine)
    # Both pooled connections were ended by the server: every checkout still gets a live one.
    after = backend_pids(engine)
    assert after and not (after & before)
    assert len(done) == 2  # the ended ones were pinged (and failed), the new ones were not


def test_a_healthy_idle_connection_is_used_without_a_ping(engine: Engine) -> None:
    backend_pids(engine)  # two connections in the pool
    done, sent = pings(engine), statements(engine)
    for _ in range(5):
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
    assert done == []
    assert sent == ["SELECT 1"] * 5


def test_a_connection_with_a_notification_waiting_is_pinged_and_kept(
    engine: Engine, postgres_url: str
) -> None:
    with engine.connect() as conn:
        listening = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
        conn.execute(text("LISTEN negocia_pool_test"))
        conn.commit()
    notifier = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with notifier.connect() as conn:
        conn.execute(text("NOTIFY negocia_pool_test"))
    notifier.dispose()
    time.sleep(0.3)  # an idle listener gets the notification at once; give it time to arrive
    done = pings(engine)
    with engine.connect() as conn:
        assert int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one()) == listening
    assert len(done) == 1
