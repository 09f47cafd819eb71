"""Engine and session factory, created by the composition root (never at import time)."""

from __future__ import annotations

import re
import select
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.orm import Session, sessionmaker

_WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)
_priority: ContextVar[bool] = ContextVar("sqlite_write_priority", default=False)


@contextmanager
def write_priority() -> Iterator[None]:
    """Writes of this block go before queued background writes (the webhook's short intake
    insert before the turn threads' writes), on SQLite; no effect on PostgreSQL."""
    token = _priority.set(True)
    try:
        yield
    finally:
        _priority.reset(token)


class WriteGate:
    """SQLite has one writer at a time, and its busy handler makes a waiting writer sleep and poll
    (up to 100 ms a try), so under load a short insert waits behind whoever polls luckier. The
    gate queues writers in the process instead: a writer takes it at its first write statement and
    gives it back at commit or rollback; a waiter is woken at once, priority writers first. Past
    ``timeout_s`` a waiter goes on and SQLite's own busy timeout applies, as without the gate."""

    def __init__(self, timeout_s: float = 30.0) -> None:
        self._cond = threading.Condition()
        self._held = False
        self._priority_waiting = 0
        self._timeout_s = timeout_s

    def acquire(self, priority: bool) -> bool:
        with self._cond:
            if priority:
                self._priority_waiting += 1
            try:
                ok = self._cond.wait_for(
                    lambda: not self._held and (priority or not self._priority_waiting), self._timeout_s
                )
            finally:
                if priority:
                    self._priority_waiting -= 1
            if ok:
                self._held = True
            return ok

    def release(self) -> None:
        with self._cond:
            self._held = False
            self._cond.notify_all()


def _install_write_gate(engine: Engine, gate: WriteGate) -> None:
    def take(conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        if not conn.info.get("write_gate") and _WRITE.match(statement):
            conn.info["write_gate"] = gate.acquire(_priority.get())

    def give_back(conn: Any, *_args: Any) -> None:
        if conn.info.pop("write_gate", False):
            gate.release()

    def returned(record: Any) -> None:
        # Back to the pool (or dropped) mid-transaction: the pool rolls back without the events above.
        if record.info.pop("write_gate", False):
            gate.release()

    def on_reset(dbapi_connection: Any, connection_record: Any, reset_state: Any) -> None:
        returned(connection_record)

    def on_close(dbapi_connection: Any, connection_record: Any) -> None:
        returned(connection_record)

    def on_invalidate(dbapi_connection: Any, connection_record: Any, exception: Any) -> None:
        returned(connection_record)

    event.listen(engine, "before_cursor_execute", take)
    event.listen(engine, "commit", give_back)
    event.listen(engine, "rollback", give_back)
    event.listen(engine.pool, "reset", on_reset)
    event.listen(engine.pool, "close", on_close)
    event.listen(engine.pool, "invalidate", on_invalidate)


def make_engine(url: str, *, pool_size: int = 5, max_overflow: int = 10) -> Engine:
    """``pool_size``/``max_overflow``: enough connections for the request threads plus the turn
    threads, or turns queue on the pool (SQLAlchemy's default of 5+10 starves ~40 threads)."""
    if url.startswith("sqlite"):
        db_path = url.split("///", 1)[-1]
        if db_path and db_path != ":memory:":
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        in_memory = not db_path or db_path == ":memory:"
        pooling = {} if in_memory else {"pool_size": pool_size, "max_overflow": max_overflow}
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **pooling)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.close()

        if not in_memory:
            _install_write_gate(engine, WriteGate())
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    engine = create_engine(url, pool_size=pool_size, max_overflow=max_overflow)
    dialect = engine.dialect

    @event.listens_for(engine.pool, "checkout")
    def _checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        ping_if_server_spoke(dialect, dbapi_connection)

    return engine


def _server_spoke(fileno: int) -> bool:
    """Whether the server sent anything on an idle connection (readable without waiting)."""
    poller = select.poll()
    poller.register(fileno, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


def ping_if_server_spoke(dialect: Any, dbapi_connection: Any) -> None:
    """A pooled PostgreSQL connection is checked before use, with a round trip only when needed.

    SQLAlchemy's ``pool_pre_ping`` sends a statement on every checkout: about six round trips a
    chat turn (~2 % of the machine's CPU under bench/load.py). A server that ends a connection
    (a restart, ``pg_terminate_backend``, an idle timeout) writes its FATAL message and closes
    the socket, so an idle connection it has ended is readable; one that is not readable was not
    ended by the server, and is used without a ping. A readable one (ended, or a notice) gets
    the real ping (SQLAlchemy's own); a dead one is replaced before the caller sees it (the pool
    takes another connection on ``DisconnectionError``), as with ``pool_pre_ping``.
    """
    if dbapi_connection.closed or dbapi_connection.broken:
        raise exc.DisconnectionError("connection closed")
    if not _server_spoke(dbapi_connection.fileno()):
        return
    try:
        dialect.do_ping(dbapi_connection)
    except Exception as error:
        raise exc.DisconnectionError(str(error)) from error


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
