"""The admin pages in a real headless Chromium (Debian's), against the real stack: an invalid
policy value is refused with its message → a valid one previewed beside the version in force and
published as a new version → a new sandbox conversation is offered terms under it → roll back.
Screenshots (the dashboard with the stack's seeded data among them) go to test-artifacts/."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.business_day import business_today
from tests.e2e.conftest import ARTIFACTS, Stack, _cnpj
from tests.e2e.test_console_browser import _negocia

pytestmark = pytest.mark.e2e

TEO = "+5531970000072"
COMPANY = "Tabela Nova Comércio Ltda"
EMAIL, PASSWORD = "alice.admin@example.com", "senha-da-alice-123"


@pytest.fixture(scope="module")
def admin_world(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Stack:
    """A debtor of our own, 45 days overdue (the 31–90 bucket), and an admin account."""
    today = business_today()
    csv = tmp_path_factory.mktemp("admin") / "carteira.csv"
    csv.write_text(
        "cnpj,razao_social,segmento,contato_nome,contato_telefone,contato_email,fatura,emissao,vencimento,valor,descricao\n"
        f"{_cnpj('717171710001')},{COMPANY},varejo,Teo Ramos,{TEO},,NF-7171-1,"
        f"{(today - timedelta(days=75)):%d/%m/%Y},{(today - timedelta(days=45)):%d/%m/%Y},3000.00,Pedido\n",
        encoding="utf-8",
    )
    _negocia(stack, "import-portfolio", str(csv))
    _negocia(stack, "users", "create", EMAIL, "--role", "admin", stdin=PASSWORD + "\n")
    return stack


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"admin-{name}.png"), full_page=True)


def test_policy_edit_preview_publish_offer_and_roll_back(admin_world: Stack, browser: Browser) -> None:
    stack = admin_world
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(stack.base_url + "/console/login")
    page.fill("input[name=email]", EMAIL)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(stack.base_url + "/admin/policy")
    active = page.locator("#active-version").inner_text()
    before = int(active.removeprefix("v"))

    # 31–90 days is the second bucket of the default policy (max discount 10 %).
    cell = page.locator("input[name='r1.max_cash_discount_pct']")
    cell.fill("150")
    page.click("button[value=publish]")
    expect(page.locator("[data-field='r1.max_cash_discount_pct']")).to_have_text("não pode passar de 100 %")
    expect(page.locator("#active-version")).to_have_text(f"v{before}")  # nothing published
    shot(page, "policy-invalid")

    # Preview the draft (20 %) for our debtor beside the version in force, then publish it.
    page.locator("input[name='r1.max_cash_discount_pct']").fill("20")
    page.select_option("select[name=debtor_id]", label=COMPANY)
    page.click("button[value=preview]")
    draft = page.locator("[data-ladder='Rascunho'] tr.step")
    in_force = page.locator(f"[data-ladder='Em vigor (v{before})'] tr.step")
    expect(draft).to_have_count(3)
    expect(draft.nth(0).locator(".cash")).to_contain_text("desconto 10,00 %")  # half of 20 % opens
    expect(in_force.nth(0).locator(".cash")).to_contain_text("desconto 5,00 %")
    expect(draft.nth(2).locator(".cash")).to_contain_text("desconto 20,00 %")
    opening_price = draft.nth(0).locator(".cash").inner_text().split(" (")[0].strip()
    shot(page, "policy-preview")
    page.click("button[value=publish]")
    expect(page.locator("[role=status]")).to_contain_text(f"Versão {before + 1} publicada")
    expect(page.locator("#active-version")).to_have_text(f"v{before + 1}")
    new_row = page.locator(f"#history tr[data-version='{before + 1}']")
    expect(new_row).to_contain_text(EMAIL)
    expect(new_row.locator(".diff")).to_contain_text("rules[1].max_cash_discount_pct")

    # A new sandbox conversation is offered terms under the new version.
    stack.say(TEO, "oi")
    offer = "\n".join(stack.say(TEO, "71.717.171"))
    assert opening_price in offer, offer
    [(version,)] = stack.query(
        "SELECT pv.version FROM quotes q JOIN policy_versions pv ON pv.id = q.policy_version_id "
        "JOIN debtors d ON d.id = q.debtor_id WHERE d.legal_name = ? ORDER BY q.id DESC LIMIT 1",
        COMPANY,
    )
    assert version == before + 1

    # Roll back: a new version with the earlier content.
    page.click(f"#history tr[data-version='{before}'] button")
    expect(page.locator("[role=status]")).to_contain_text(
        f"Versão {before} restaurada como a nova versão {before + 2}"
    )
    expect(page.locator("input[name='r1.max_cash_discount_pct']")).to_have_value("10")
    shot(page, "policy-history")

    # The dashboard with the stack's data (conversations and agreements of the other e2e tests).
    page.goto(stack.base_url + "/admin")
    # Four charts always; a fifth (reminders by step) once the stack's scheduler has sent any.
    for title in ("Acordos por dia (quantidade)", "Acordos por dia (valor, R$)",
                  "Transferências para atendente, por motivo", "Mensagens no período"):  # fmt: skip
        expect(page.locator(f"svg.chart[aria-label='{title}']")).to_have_count(1)
    expect(page.locator("[data-kpi=messages]")).not_to_have_text("0 / 0")
    shot(page, "dashboard")
    page.goto(stack.base_url + "/admin/audit?group=policy")
    expect(page.locator("#audit tr[data-action=policy_rollback]")).to_have_count(1)
    page.close()
