"""The collector console in a real headless Chromium (Debian's), against the real stack:
login → claim → reply (reaches the debtor's sandbox inbox) → agreement → release → the bot
answers the next message. Screenshots go to test-artifacts/."""

from __future__ import annotations

import os
import re
import subprocess
from datetime import timedelta

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.business_day import business_today
from tests.e2e.conftest import ARTIFACTS, NEGOCIA, Stack, _cnpj

pytestmark = pytest.mark.e2e

HUGO = "+5531970000081"
EMAIL, PASSWORD = "carla.cobradora@example.com", "senha-da-carla-123"


def _negocia(stack: Stack, *args: str, stdin: str | None = None) -> None:
    env = {**os.environ, "NEGOCIA_DATABASE_URL": f"sqlite:///{stack.db_path}"}
    subprocess.run([str(NEGOCIA), *args], env=env, input=stdin, text=True, check=True, capture_output=True)


@pytest.fixture(scope="module")
def handed_off(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A debtor of our own (added to the running stack's portfolio), verified and shown an offer
    by the bot, then handed to the collectors; and a collector account."""
    today = business_today()
    csv = tmp_path_factory.mktemp("console") / "carteira.csv"
    csv.write_text(
        "cnpj,razao_social,segmento,contato_nome,contato_telefone,contato_email,fatura,emissao,vencimento,valor,descricao\n"
        f"{_cnpj('818181810001')},Humano Atende Ltda,varejo,Hugo Alves,{HUGO},,NF-8181-1,"
        f"{(today - timedelta(days=60)):%d/%m/%Y},{(today - timedelta(days=30)):%d/%m/%Y},1800.00,Pedido\n",
        encoding="utf-8",
    )
    _negocia(stack, "import-portfolio", str(csv))
    _negocia(stack, "users", "create", EMAIL, "--role", "collector", stdin=PASSWORD + "\n")
    stack.say(HUGO, "oi")
    assert any("Total atualizado" in t for t in stack.say(HUGO, "81.818.181"))
    # The sandbox conversation: within contact hours the running scheduler may already have
    # sent Hugo's D+30 reminder on WhatsApp, which opens a second conversation at his number.
    [(public_id,)] = stack.query(
        "SELECT public_id FROM conversations WHERE channel = 'sandbox' AND address = ?", HUGO
    )
    r = httpx.post(f"{stack.base_url}/internal/conversations/{public_id}/handoff",
                   json={"reason": "request_human", "note": "quer negociar com uma pessoa"},
                   headers={"Authorization": "Bearer e2e-token"}, timeout=30)  # fmt: skip
    assert r.status_code == 200, r.text
    return str(public_id)


def inbox(stack: Stack) -> list[str]:
    r = stack.client.get("/channels/sandbox/messages", params={"recipient": HUGO})
    return [m["text"] for m in r.json()["messages"]]


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"console-{name}.png"), full_page=True)


def test_collector_takes_over_agrees_and_hands_back(stack: Stack, browser: Browser, handed_off: str) -> None:
    page = browser.new_page()
    page.goto(stack.base_url + "/console")
    expect(page.get_by_role("heading", name="Entrar no console")).to_be_visible()
    page.fill("#email", EMAIL)
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Entrar").click()
    expect(page.get_by_role("heading", name="Fila de atendimento")).to_be_visible()
    row = page.locator("#queue tr", has_text="Humano Atende Ltda")
    expect(row).to_contain_text("pediu atendente")
    shot(page, "queue")
    row.get_by_role("button", name="Assumir").click()
    expect(page.locator("#state")).to_have_text("em atendimento")
    expect(page.locator("#invoices")).to_contain_text("NF-8181-1")

    # The debtor writes while the collector holds the conversation: it shows up live, escaped.
    assert stack.say(HUGO, "<b>oi</b>, tem alguém aí?") == []
    expect(page.locator("#transcript .msg.inbound .text").last).to_have_text(
        "<b>oi</b>, tem alguém aí?", timeout=15000
    )

    page.locator(".canned button").first.click()
    expect(page.locator("#reply")).to_have_value(re.compile("Vou continuar o seu atendimento"))
    page.fill("#reply", "Olá Hugo, aqui é a Carla. Consigo 20% de desconto à vista.")
    page.get_by_role("button", name="Enviar pelo sandbox").click()
    expect(page.locator("#transcript .msg.collector").last).to_contain_text("aqui é a Carla")
    assert inbox(stack)[-1] == "Olá Hugo, aqui é a Carla. Consigo 20% de desconto à vista."

    page.select_option("#kind", "cash")
    page.fill("#discount_pct", "20")
    shot(page, "conversation")
    page.get_by_role("button", name="Fechar acordo e enviar PIX").click()
    expect(page.locator("#agreements")).to_contain_text("cobrador")
    messages = inbox(stack)
    assert messages[-3].startswith("Acordo fechado!") and messages[-2].startswith("000201")
    assert "/public/agreements/" in messages[-1]

    page.get_by_role("button", name="Devolver ao assistente").click()
    expect(page.locator("#state")).to_have_text("com o assistente")
    shot(page, "released")

    # The bot is back, knows the conversation is verified and does not ask for the CNPJ again.
    replies = stack.say(HUGO, "obrigado")
    assert replies, "the bot answers again after the release"
    assert not any("8 primeiros dígitos" in t for t in replies)
