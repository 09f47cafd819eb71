"""The /sandbox web chat in a real headless Chromium (Debian's), against the real stack."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.conftest import ARTIFACTS, Stack

pytestmark = pytest.mark.e2e


def test_newcomer_picks_a_demo_contact_and_chats(stack: Stack, browser: Browser) -> None:
    page = browser.new_page()
    page.goto(stack.base_url + "/sandbox")
    expect(page.get_by_role("heading", name="Contatos de demonstração")).to_be_visible()
    # The page lists the portfolio's contacts; pick Dora (Mercado Bom Preço).
    page.get_by_role("row", name="Dora Reis").get_by_role("button", name="usar").click()
    expect(page.locator("#who")).to_contain_text("+5531987651111")

    page.fill("#text", "<b>oi</b>")
    page.press("#text", "Enter")
    # Debtor text is shown as text, never parsed as HTML.
    expect(page.locator(".msg.in").last).to_have_text("<b>oi</b>")
    expect(page.locator(".msg.out").filter(has_text="Horizonte Distribuidora")).to_have_count(1)
    expect(page.locator(".msg.out").last).to_contain_text("8 primeiros dígitos do CNPJ")
    page.fill("#text", "12.345.678")
    page.click("button[type=submit]")
    expect(page.locator(".msg.out").filter(has_text="Total atualizado")).to_contain_text("R$ 2.575,00")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "sandbox.png"), full_page=True)

    # Reloading shows the bot's earlier messages from the history endpoint.
    page.reload()
    page.get_by_role("row", name="Dora Reis").get_by_role("button", name="usar").click()
    expect(page.locator(".msg.out").filter(has_text="Total atualizado")).to_have_count(1)


def test_bad_phone_shows_the_reason(stack: Stack, browser: Browser) -> None:
    page = browser.new_page()
    page.goto(stack.base_url + "/sandbox")
    page.fill("#phone", "123")
    page.fill("#text", "oi")
    page.press("#text", "Enter")
    expect(page.locator("#error")).to_contain_text("telefone inválido")
