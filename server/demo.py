"""Demo portfolio: a fictional creditor's overdue receivables, dated relative to today.

Loaded by `negocia run` on first start (through the same import as a real CSV), so a newcomer
can chat right away. Every CNPJ is valid and fictional; phones are listed in the README.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from server.clock import SystemClock, local_today
from server.db.models import Debtor
from server.db.session import make_engine, make_session_factory
from server.services.creditor import get_or_create_creditor
from server.services.portfolio_import import import_portfolio
from server.settings import Settings


@dataclass(frozen=True)
class DemoContact:
    name: str
    phone: str
    email: str


@dataclass(frozen=True)
class DemoInvoice:
    number: str
    days_overdue: int  # negative: not yet due
    amount: Decimal
    description: str


@dataclass(frozen=True)
class DemoDebtor:
    cnpj: str
    legal_name: str
    segment: str
    contacts: tuple[DemoContact, ...]
    invoices: tuple[DemoInvoice, ...]


DEMO_DEBTORS: tuple[DemoDebtor, ...] = (
    DemoDebtor(
        "12.345.678/0001-95", "Mercado Bom Preço Ltda", "varejo",
        (DemoContact("Ana Souza", "+55 31 99123-4567", "ana@bompreco.example.com"),),
        (
            DemoInvoice("NF-10231", 20, Decimal("2350.00"), "Mercadorias - pedido 5512"),
            DemoInvoice("NF-10388", 45, Decimal("1875.40"), "Mercadorias - pedido 5630"),
        ),
    ),
    DemoDebtor(
        "45.871.293/0001-10", "Padaria Pão Dourado Ltda", "alimentação",
        (
            DemoContact("Carlos Lima", "(11) 98765-4321", "carlos@paodourado.example.com"),
            DemoContact("Juliana Lima", "(11) 97654-3210", "financeiro@paodourado.example.com"),
        ),
        (DemoInvoice("NF-10412", 75, Decimal("4200.00"), "Farinha e insumos"),),
    ),
    DemoDebtor(
        "90.214.567/0001-53", "Restaurante Sabor Mineiro Ltda", "alimentação",
        (DemoContact("Marcos Ribeiro", "+55 31 98888-7777", "marcos@sabormineiro.example.com"),),
        (DemoInvoice("NF-09877", 120, Decimal("12780.90"), "Fornecimento mensal"),),
    ),
    DemoDebtor(
        "67.120.384/0001-57", "Construtora Alicerce S.A.", "construção",
        (DemoContact("Fernanda Castro", "+55 21 99999-8888", "fernanda@alicerce.example.com"),),
        (
            DemoInvoice("NF-08760", 95, Decimal("480000.00"), "Material de obra - lote A"),
            DemoInvoice("NF-08761", 65, Decimal("372500.00"), "Material de obra - lote B"),
        ),
    ),
    DemoDebtor(
        "55.098.712/0001-87", "Farmácia Vida Ltda", "saúde",
        (DemoContact("Roberto Nunes", "+55 41 99111-2222", "roberto@farmaciavida.example.com"),),
        (DemoInvoice("NF-07654", 210, Decimal("6430.15"), "Produtos de higiene"),),
    ),
    DemoDebtor(
        "12.ABC.345/0001-88", "Tech Nova Sistemas Ltda", "serviços",
        (DemoContact("Beatriz Alves", "+55 48 99666-5555", "beatriz@technova.example.com"),),
        (
            DemoInvoice("NF-10501", 5, Decimal("990.00"), "Licenças de software"),
            DemoInvoice("NF-10577", -10, Decimal("990.00"), "Licenças de software"),
        ),
    ),
    DemoDebtor(
        "28.374.651/0001-60", "Hotel Mar Azul Ltda", "hotelaria",
        (DemoContact("Paulo Mendes", "+55 71 99333-4444", "paulo@marazul.example.com"),),
        (DemoInvoice("NF-05432", 400, Decimal("25300.00"), "Enxoval e amenities"),),
    ),
)  # fmt: skip

HEADER = ";".join(
    [
        "cnpj", "razao_social", "segmento", "contato_nome", "contato_telefone", "contato_email",
        "fatura", "emissao", "vencimento", "valor", "descricao",
    ]
)  # fmt: skip


def _brl(amount: Decimal) -> str:
    integer, cents = f"{amount:.2f}".split(".")
    return f"{int(integer):,}".replace(",", ".") + "," + cents


def demo_csv(today: date) -> str:
    lines = [HEADER]
    for debtor in DEMO_DEBTORS:
        for inv in debtor.invoices:
            due = today - timedelta(days=inv.days_overdue)
            issued = due - timedelta(days=30)
            for c in debtor.contacts:
                lines.append(
                    ";".join(
                        [
                            debtor.cnpj, debtor.legal_name, debtor.segment, c.name, c.phone, c.email,
                            inv.number, issued.strftime("%d/%m/%Y"), due.strftime("%d/%m/%Y"),
                            _brl(inv.amount), inv.description,
                        ]
                    )
                )  # fmt: skip
    return "\n".join(lines) + "\n"


def load_demo(settings: Settings) -> bool:
    """Import the demo portfolio unless the creditor already has debtors. True if loaded."""
    engine = make_engine(settings.database_url)
    try:
        with make_session_factory(engine)() as session:
            creditor = get_or_create_creditor(session, settings)
            if session.scalar(
                select(func.count()).select_from(Debtor).where(Debtor.creditor_id == creditor.id)
            ):
                return False
            today = local_today(SystemClock(), settings.timezone)
            report = import_portfolio(session, creditor, demo_csv(today).encode("utf-8"))
            if report.errors:
                raise RuntimeError(f"demo portfolio is invalid: {report.errors}")
            session.commit()
            return True
    finally:
        engine.dispose()
