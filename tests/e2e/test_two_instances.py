"""Scale-out (issue 9, item 4): two server workers and two Rasa + action-server pairs share one
PostgreSQL database (the server's tables and Rasa's SQL tracker store) and one Redis (the gateway's
per-conversation lock, Rasa's RedisLockStore); each server lists both Rasa instances. One
conversation's messages go alternately to server A and server B, two of them at the same moment,
and the conversation stays consistent: every message answered once, in order, one agreement with
its PIX code. With one Rasa killed, the conversation goes on through the other, with no holding
reply."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import redis

from bot import texts
from server.domain.pix import parse_brcode
from tests.e2e.conftest import free_port
from tests.e2e.supervisor import READY_S, Node, load_portfolio, make_node, scratch_database

pytestmark = pytest.mark.e2e

CAIO = "+5531970000001"  # Caixa Forte Comércio Ltda, CNPJ root 10101010, R$ 2.575,00 updated
REDIS_URL = "redis://127.0.0.1:6379/12"  # a database of its own, flushed after


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[tuple[Node, Node]]:
    store = redis.Redis.from_url(REDIS_URL)
    store.flushdb()
    with scratch_database() as url:
        # Each server lists both Rasa instances (its own first): a turn goes to the less busy one.
        ports = {"a": str(free_port()), "b": str(free_port())}
        a, b = (
            make_node(name, tmp_path, url, REDIS_URL, {
                "NEGOCIA_RASA_PORT": ports[name],
                "NEGOCIA_RASA_URL": ",".join(f"http://127.0.0.1:{ports[n]}" for n in (name, other)),
            })
            for name, other in (("a", "b"), ("b", "a"))
        )  # fmt: skip
        load_portfolio(a.env, tmp_path)
        try:
            for node in (a, b):
                node.start("actions")
            # The second Rasa starts once the first has created the tracker store's tables.
            a.start("rasa")
            tracker_store_created(a)
            b.start("rasa")
            for node in (a, b):
                node.wait_up("rasa")
            for node in (a, b):
                node.start("server")
            for node in (a, b):
                node.wait_up("actions")
                node.wait_up("server")
            yield a, b
        finally:
            for node in (a, b):
                node.stop_all()
            store.flushdb()
            store.close()


def tracker_store_created(node: Node) -> None:
    deadline = time.monotonic() + READY_S
    while rows(node, "SELECT to_regclass('public.events')") == [(None,)]:
        process = node.services["rasa"].process
        assert process is not None and process.poll() is None, node.logs["rasa"].read_text()[-3000:]
        assert time.monotonic() < deadline, "Rasa never created its tracker store"
        time.sleep(0.5)


def post(node: Node, text: str) -> list[dict]:
    r = httpx.post(
        f"{node.base_url}/channels/sandbox/messages", json={"sender": CAIO, "text": text}, timeout=180
    )
    assert r.status_code == 200, r.text
    return list(r.json()["messages"])


def say(node: Node, text: str) -> str:
    return "\n".join(m["text"] for m in post(node, text))


def history(node: Node) -> list[dict]:
    r = httpx.get(f"{node.base_url}/channels/sandbox/messages", params={"recipient": CAIO}, timeout=30)
    assert r.status_code == 200, r.text
    return list(r.json()["messages"])


def transcript(node: Node) -> list[tuple]:
    return [
        (m["text"], m.get("buttons"), bool(m.get("image")), bool(m.get("document"))) for m in history(node)
    ]


def rows(node: Node, sql: str) -> list[tuple]:
    dsn = node.settings.database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql).fetchall()


def ok_turns(node: Node) -> float:
    text = httpx.get(f"{node.base_url}/metrics", timeout=30).text
    match = re.search(r'^negocia_turns_total\{outcome="ok"\} ([0-9.e+]+)$', text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_one_conversation_across_two_servers_and_two_rasa_instances(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    assert "CNPJ" in say(a, "oi")
    offers = say(b, "10.101.010")  # verified on B: B's Rasa sees what A's Rasa saved
    assert "PIX à vista: R$ 2.510,63 (2,50% de desconto sobre R$ 2.575,00)" in offers, offers
    assert "R$ 2.575,00" in say(a, "quanto eu devo mesmo?")
    assert say(b, "valeu")

    # Two messages at the same moment, one to each server: each turn runs once, in arrival order.
    answers: dict[str, list[dict]] = {}
    start = threading.Barrier(2)

    def send(node: Node, text: str) -> None:
        start.wait()
        answers[text] = post(node, text)

    both = [
        threading.Thread(target=send, args=(a, "manda a segunda via do boleto")),
        threading.Thread(target=send, args=(b, "vc é um robô?")),
    ]
    for thread in both:
        thread.start()
    for thread in both:
        thread.join(timeout=400)
    assert sorted(answers) == ["manda a segunda via do boleto", "vc é um robô?"]
    assert all(answers.values()), answers

    confirm = say(a, "quero pagar à vista no pix")
    assert "pagamento único via PIX de R$ 2.510,63" in confirm, confirm
    agreed = post(b, "sim")
    assert "Acordo fechado!" in "\n".join(m["text"] for m in agreed)
    code = next(m["text"] for m in agreed if m["text"].startswith("000201"))
    assert str(parse_brcode(code).amount) == "2510.63"
    assert say(a, "tchau")

    # Both servers ran turns: the conversation really was spread.
    # (the nine messages, one dialogue turn each: a server holding the conversation's lock runs
    # every pending message, so the simultaneous pair may both run on one of them)
    turns = (ok_turns(a), ok_turns(b))
    assert sum(turns) == 9 and min(turns) >= 3, turns
    check_consistent(a, b, answers, code)


def test_with_one_rasa_killed_the_conversation_goes_on_through_the_other(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    assert "CNPJ" in say(a, "oi")
    assert "PIX à vista: R$ 2.510,63" in say(b, "10.101.010")
    b.kill("rasa")  # a crash: its port refuses connections from now on
    for node in (a, b, a, b):  # both servers, whichever instance each would have picked first
        reply = say(node, "quanto eu devo mesmo?")
        assert "R$ 2.575,00" in reply, reply
        assert texts.ASSISTANT_UNAVAILABLE not in reply
    assert "pagamento único via PIX de R$ 2.510,63" in say(b, "quero pagar à vista no pix")
    assert "Acordo fechado!" in say(a, "sim")
    inbound = rows(a, "SELECT processing FROM messages WHERE direction = 'inbound'")
    assert inbound == [("processed",)] * 8
    held = rows(a, "SELECT count(*) FROM messages WHERE author = 'system'")
    assert held == [(0,)]  # no holding reply: no turn waited for the dead instance
    assert rows(a, "SELECT count(*) FROM agreements") == [(1,)]


def check_consistent(a: Node, b: Node, answers: dict[str, list[dict]], code: str) -> None:
    inbound = rows(a, "SELECT id, text, processing FROM messages WHERE direction = 'inbound' ORDER BY id")
    assert len(inbound) == 9
    assert all(processing == "processed" for _, _, processing in inbound), inbound
    concurrent = {text: id_ for id_, text, _ in inbound if text in answers}
    assert len(concurrent) == 2

    # Every message answered by the bot, exactly once (no reply repeated), and nothing else sent.
    outbound = rows(
        a,
        "SELECT id, reply_to_id, author, text, CAST(payload AS TEXT) FROM messages "
        "WHERE direction = 'outbound' ORDER BY id",
    )
    assert {author for _, _, author, _, _ in outbound} == {"bot"}
    assert {reply_to for _, reply_to, _, _, _ in outbound} == {id_ for id_, _, _ in inbound}
    keys = [(reply_to, text, payload) for _, reply_to, _, text, payload in outbound]
    assert len(keys) == len(set(keys))
    # Replies in order: a turn's replies all come before the next message's.
    reply_order = [reply_to for _, reply_to, _, _, _ in outbound]
    assert reply_order == sorted(reply_order)
    # Each of the simultaneous messages got its own turn's replies.
    for text, messages in answers.items():
        saved = [t for _, reply_to, _, t, _ in outbound if reply_to == concurrent[text]]
        assert [m["text"] for m in messages] == saved

    # Rasa (either instance, one shared tracker store) ran one turn per message, in arrival order.
    public_id = rows(a, "SELECT public_id FROM conversations")[0][0]
    user_events = rows(
        a,
        f"SELECT data FROM events WHERE sender_id = '{public_id}' AND type_name = 'user' ORDER BY id",
    )
    seen = [json.loads(data).get("metadata", {}).get("negocia_message_id") for (data,) in user_events]
    assert seen == [id_ for id_, _, _ in inbound]

    # One agreement, with the PIX code the debtor received.
    assert rows(a, "SELECT count(*) FROM agreements") == [(1,)]
    assert sum("Acordo fechado!" in m["text"] for m in history(a)) == 1
    assert rows(a, "SELECT pix_code FROM agreement_installments") == [(code,)]
    # Both servers show the same transcript (media links are signed per request: compared by kind).
    assert transcript(a) == transcript(b)
    assert len(transcript(a)) == len(outbound)
