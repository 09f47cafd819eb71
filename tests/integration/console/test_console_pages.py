"""The /console pages: cookie login with CSRF, expiring sessions, escaped debtor text, live
transcript (server-sent events) and the form actions."""

from __future__ import annotations

import json
import re
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from server.clock import FixedClock
from tests.integration.conftest import NOW
from tests.integration.console.conftest import PASSWORD, ConsoleWorld, waiting_conversation

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def login(world: ConsoleWorld, email: str = "cobra1@example.com") -> str:
    page = world.client.get("/console/login")
    assert page.status_code == 200 and "Entrar no console" in page.text
    token = CSRF.search(page.text)
    assert token is not None
    r = world.client.post("/console/login", data={"email": email, "password": PASSWORD,
                                                  "csrf_token": token.group(1)}, follow_redirects=False)  # fmt: skip
    assert r.status_code == 303 and r.headers["location"] == "/console"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Max-Age=" in cookie
    queue = world.client.get("/console")
    assert queue.status_code == 200
    found = CSRF.search(queue.text)
    assert found is not None
    return found.group(1)


def test_pages_need_a_session_and_login_needs_its_csrf_token(world: ConsoleWorld) -> None:
    r = world.client.get("/console", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/login"
    world.client.get("/console/login")
    no_csrf = world.client.post("/console/login", data={"email": "cobra1@example.com", "password": PASSWORD})
    assert no_csrf.status_code == 403
    page = world.client.get("/console/login")
    token = CSRF.search(page.text)
    assert token is not None
    wrong = world.client.post("/console/login", data={"email": "cobra1@example.com", "password": "errada-errada",
                                                      "csrf_token": token.group(1)})  # fmt: skip
    assert wrong.status_code == 401 and "E-mail ou senha inválidos" in wrong.text


def test_queue_shows_waiting_handoffs_with_reason_badges(
    world: ConsoleWorld, session_factory: sessionmaker[Session], portfolio: dict[str, int]
) -> None:
    waiting_conversation(session_factory, portfolio["ana"], "legal_situation")
    login(world)
    page = world.client.get("/console").text
    assert "Mercado Bom Preço Ltda" in page and "situação jurídica" in page and "Assumir" in page


def test_posts_without_csrf_are_refused(
    world: ConsoleWorld, session_factory: sessionmaker[Session], portfolio: dict[str, int]
) -> None:
    _, handoff_id = waiting_conversation(session_factory, portfolio["ana"])
    login(world)
    r = world.client.post(f"/console/handoffs/{handoff_id}/claim", data={}, follow_redirects=False)
    assert r.status_code == 403
    r = world.client.post(f"/console/handoffs/{handoff_id}/claim", data={"csrf_token": "forjado"})
    assert r.status_code == 403


def test_expired_session_redirects_to_login(
    world: ConsoleWorld, session_factory: sessionmaker[Session], portfolio: dict[str, int]
) -> None:
    _, handoff_id = waiting_conversation(session_factory, portfolio["ana"])
    csrf = login(world)
    clock = world.container.clock
    assert isinstance(clock, FixedClock)
    clock.at = NOW + timedelta(minutes=world.container.settings.console_session_minutes + 1)
    r = world.client.get("/console", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/login"
    r = world.client.post(
        f"/console/handoffs/{handoff_id}/claim", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == "/console/login"


def test_claim_reply_agree_release_through_the_forms_with_debtor_text_escaped(
    world: ConsoleWorld, session_factory: sessionmaker[Session], portfolio: dict[str, int]
) -> None:
    public_id, handoff_id = waiting_conversation(session_factory, portfolio["ana"])
    world.say("<script>alert('x')</script>")
    csrf = login(world)
    r = world.client.post(
        f"/console/handoffs/{handoff_id}/claim", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == f"/console/conversations/{public_id}"
    page = world.client.get(r.headers["location"]).text
    assert "<script>alert(" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert "NF-1" in page and "Saldo atualizado" in page and "pediu atendente" in page
    # A second collector cannot claim it: the queue says who holds it.
    world.client.cookies.clear()
    other = login(world, "cobra2@example.com")
    taken = world.client.post(f"/console/handoffs/{handoff_id}/claim", data={"csrf_token": other})
    assert taken.status_code == 409 and "Carla Cobradora" in taken.text
    world.client.cookies.clear()
    csrf = login(world)
    sent = world.client.post(f"/console/conversations/{public_id}/messages",
                             data={"csrf_token": csrf, "text": "Bom dia! Aqui é a Carla."})  # fmt: skip
    assert sent.status_code == 200 and "Bom dia! Aqui é a Carla." in sent.text
    assert world.inbox()[-1] == "Bom dia! Aqui é a Carla."
    refused = world.client.post(f"/console/conversations/{public_id}/agreements", data={
        "csrf_token": csrf, "kind": "cash", "first_due": "2026-11-25", "discount_pct": "90"})  # fmt: skip
    assert refused.status_code == 422 and "alçada" in refused.text
    made = world.client.post(f"/console/conversations/{public_id}/agreements", data={
        "csrf_token": csrf, "kind": "plan", "first_due": "2026-11-25", "installments": "6",
        "down_payment": "500,00"})  # fmt: skip
    assert made.status_code == 200 and "cobrador" in made.text
    assert world.inbox()[-3].startswith("Acordo fechado!")
    released = world.client.post(f"/console/handoffs/{handoff_id}/release", data={"csrf_token": csrf})
    assert released.status_code == 200 and "devolvido ao assistente" in released.text
    [(_, resume)] = world.sync.resumes
    assert resume.agreement_id is not None
    assert world.say("obrigado")[-1]["text"] == "eco: obrigado"


def test_live_transcript_streams_new_messages_as_server_sent_events(
    world: ConsoleWorld, session_factory: sessionmaker[Session], portfolio: dict[str, int]
) -> None:
    world.container.settings.console_stream_seconds = 0  # one pass: the backlog, then the stream ends
    public_id, handoff_id = waiting_conversation(session_factory, portfolio["ana"])
    csrf = login(world)
    world.client.post(f"/console/handoffs/{handoff_id}/claim", data={"csrf_token": csrf})
    world.say("primeira")
    world.say("<b>segunda</b>")
    r = world.client.get(f"/console/conversations/{public_id}/events")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = [json.loads(line[len("data: ") :]) for line in r.text.splitlines() if line.startswith("data: ")]
    texts = [e["text"] for e in events if e["direction"] == "inbound"]
    assert texts == ["primeira", "<b>segunda</b>"]
    last = events[-1]["id"]
    again = world.client.get(
        f"/console/conversations/{public_id}/events", headers={"Last-Event-ID": str(last)}
    )
    assert "data: " not in again.text
