"""Restart survival (issue 9, item 3): Rasa, the action server and the server are each killed
mid-negotiation on PostgreSQL + Redis; no message is lost, none is answered twice, and the
negotiation goes on to an agreement."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from bot import texts
from tests.e2e.supervisor import Node, load_portfolio, make_node, scratch_database

pytestmark = pytest.mark.e2e

CAIO = "+5531970000001"  # Caixa Forte Comércio Ltda, CNPJ root 10101010
REDIS_URL = "redis://127.0.0.1:6379/11"
WAIT_S = 240


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    with scratch_database() as url:
        node = make_node("a", tmp_path, url, REDIS_URL, {})
        load_portfolio(node.env, tmp_path)
        for which in ("actions", "rasa", "server"):
            node.start(which)
        try:
            for which in ("actions", "rasa", "server"):
                node.wait_up(which)
            yield node
        finally:
            node.stop_all()


def post(node: Node, text: str, timeout: float = 120) -> list[dict]:
    r = httpx.post(
        f"{node.base_url}/channels/sandbox/messages", json={"sender": CAIO, "text": text}, timeout=timeout
    )
    assert r.status_code == 200, r.text
    return list(r.json()["messages"])


def history(node: Node) -> list[dict]:
    r = httpx.get(f"{node.base_url}/channels/sandbox/messages", params={"recipient": CAIO}, timeout=30)
    return list(r.json()["messages"]) if r.status_code == 200 else []


def wait_for(node: Node, fragment: str) -> list[dict]:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        messages = history(node)
        if any(fragment in m["text"] for m in messages):
            return messages
        time.sleep(1)
    raise AssertionError(f"{fragment!r} never arrived: {[m['text'][:60] for m in history(node)]}")


def rows(node: Node, sql: str) -> list[tuple]:
    dsn = node.settings.database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql).fetchall()


def first_button(messages: list[dict]) -> str:
    return next(m["buttons"][0]["payload"] for m in reversed(messages) if m.get("buttons"))


def test_each_process_killed_mid_negotiation(node: Node) -> None:
    assert "CNPJ" in "\n".join(m["text"] for m in post(node, "oi"))

    node.kill("rasa")  # the dialogue engine crashes: the debtor is told once, nothing is lost
    assert [m["text"] for m in post(node, "10.101.010")] == [texts.ASSISTANT_UNAVAILABLE]
    node.start("rasa")
    node.wait_up("rasa")
    offers = wait_for(node, "PIX à vista")  # the retrier ran the pending turn once Rasa was back

    node.kill("actions")  # Rasa is up but cannot run the negotiation's actions
    assert [m["text"] for m in post(node, first_button(offers))] == [texts.ASSISTANT_UNAVAILABLE]
    node.start("actions")
    node.wait_up("actions")
    wait_for(node, "pagamento único via PIX")

    # The server dies while the last turn is in flight (accepted, answer not yet recorded).
    in_flight = threading.Thread(target=lambda: _ignore_errors(post, node, "sim"), daemon=True)
    in_flight.start()
    deadline = time.monotonic() + 30
    while not rows(node, "SELECT id FROM messages WHERE direction = 'inbound' AND text = 'sim'"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    node.kill("server")
    node.start("server")
    node.wait_up("server")
    wait_for(node, "Acordo fechado!")

    # The replies are delivered just before their message is marked processed: wait for the mark.
    unprocessed = "SELECT count(*) FROM messages WHERE direction = 'inbound' AND processing <> 'processed'"
    deadline = time.monotonic() + WAIT_S
    while rows(node, unprocessed) != [(0,)] and time.monotonic() < deadline:
        time.sleep(0.5)
    assert rows(node, unprocessed) == [(0,)]
    duplicates = rows(
        node,
        # (the agreement's QR image and term PDF are two replies without text: payload tells them apart)
        "SELECT reply_to_id, text, CAST(payload AS TEXT), count(*) FROM messages WHERE direction = 'outbound' "
        "GROUP BY reply_to_id, text, CAST(payload AS TEXT) HAVING count(*) > 1",
    )
    assert duplicates == []
    assert sum("Acordo fechado!" in m["text"] for m in history(node)) == 1
    assert rows(node, "SELECT count(*) FROM agreements") == [(1,)]
    # Every debtor message got an answer (the holding replies are the only system messages).
    unanswered = rows(
        node,
        "SELECT i.text FROM messages i WHERE i.direction = 'inbound' AND NOT EXISTS "
        "(SELECT 1 FROM messages o WHERE o.reply_to_id = i.id AND o.author = 'bot')",
    )
    assert unanswered == []


def _ignore_errors(fn, *args) -> None:  # type: ignore[no-untyped-def]
    with contextlib.suppress(Exception):  # the server is killed under this request
        fn(*args)
