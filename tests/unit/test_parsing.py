"""What debtors type → values: amounts, installment counts, dates and counter-offers."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.domain.parsing import (
    CounterOffer,
    CounterOfferKind,
    parse_amount,
    parse_counter_offer,
    parse_date,
    parse_installments,
)

# A Friday, so weekday arithmetic is easy to check by hand.
TODAY = date(2026, 11, 20)

AMOUNTS = [
    ("R$ 1.500,00", "1500.00"),
    ("R$1500", "1500.00"),
    ("r$ 1500,5", "1500.50"),
    ("1.500", "1500.00"),
    ("1500,50", "1500.50"),
    ("1500.50", "1500.50"),
    ("1,234.56", "1234.56"),
    ("R$ 1.234.567,89", "1234567.89"),
    ("R$ 12.345.678", "12345678.00"),
    ("mil e quinhentos", "1500.00"),
    ("dois mil reais", "2000.00"),
    ("um mil e duzentos", "1200.00"),
    ("2 mil e quinhentos", "2500.00"),
    ("1,5 mil", "1500.00"),
    ("3 mil", "3000.00"),
    ("R$ 2 mil", "2000.00"),
    ("2k", "2000.00"),
    ("mil", "1000.00"),
    ("cem reais", "100.00"),
    ("quinhentos reais por mês", "500.00"),
    ("700 por mes", "700.00"),
    ("consigo pagar uns 800 reais", "800.00"),
    ("paguei dia 10 o valor de 350", "350.00"),
    ("3 vezes de 500", "500.00"),
    ("10 de 300", "300.00"),
    ("3x500", "500.00"),
    ("10x de R$ 150,00", "150.00"),
    ("parcelar em 12 de 99,90", "99.90"),
    ("pago 1000 de entrada e 10x de 300", "1000.00"),
    # A money mark wins over a bare number that comes first.
    ("tenho 2 filhos e posso pagar R$ 400", "400.00"),
    ("cnpj 12.345.678/0001-95, posso pagar 1.200", "1200.00"),
    ("meu fone é (11) 98765-4321, consigo 900 reais", "900.00"),
    ("dia 15 eu pago 2 mil", "2000.00"),
    ("2 mil e 10 parcelas", "2000.00"),
]

NOT_AMOUNTS = [
    "",
    "oi, tudo bem?",
    "zero",
    "12.345.678/0001-95",
    "12345678000195",
    "12.345.678",
    "12345678",
    "12.ABC.345/01DE-35",
    "(11) 98765-4321",
    "+55 11 98765-4321",
    "11 98765 4321",
    "11987654321",
    "dia 15",
    "15/12",
    "15/12/2026",
    "2026-12-15",
    "15 de dezembro",
    "10x",
    "12 parcelas",
    "em 10 vezes",
    "parcelar em seis",
    "em 3",
    "dez vezes",
    "10%",
    "às 15h",
    "14:30",
    "nota 12345",
    "fatura nº 889",
    "2ª parcela",
    "tenho 3 lojas",
    "daqui a 10 dias",
    "quero pagar de uma vez",
]


@pytest.mark.parametrize(("text", "expected"), AMOUNTS)
def test_parse_amount(text: str, expected: str) -> None:
    value = parse_amount(text)
    assert value == Decimal(expected)
    assert isinstance(value, Decimal)
    assert value.as_tuple().exponent == -2  # two places, always


@pytest.mark.parametrize("text", NOT_AMOUNTS)
def test_parse_amount_none(text: str) -> None:
    assert parse_amount(text) is None


INSTALLMENTS = [
    ("10x", 10),
    ("10 x", 10),
    ("6X", 6),
    ("em 10 vezes", 10),
    ("dez vezes", 10),
    ("12 parcelas", 12),
    ("doze parcelas", 12),
    ("parcelar em seis", 6),
    ("parcela em 4?", 4),
    ("dividir em 5", 5),
    ("em 3", 3),
    ("dá pra fazer em 12?", 12),
    ("3 vezes de 500", 3),
    ("10 de 300", 10),
    ("3x500", 3),
    ("duas vezes", 2),
    ("em duas", 2),
    ("uma parcela só", 1),
    ("em 10 meses", 10),
    ("quero pagar em vinte e quatro prestações", 24),
    ("1000 de entrada e o resto em 10x", 10),
    ("12 parcelas de R$ 1.500,00", 12),
    ("2 mil e 10 parcelas", 10),
]

NOT_INSTALLMENTS = [
    "",
    "quero parcelar",
    "R$ 1.500",
    "1500",
    "1.500,00",
    "mil e quinhentos",
    "em 2 mil",
    "em 50 reais",
    "dia 10",
    "em 15/12",
    "em 10 dias",
    "daqui a 2 semanas",
    "10%",
    "quero pagar de uma vez",
    "100x",
    "em 2026",
    "12.345.678/0001-95",
    "devo há 3 meses",
]


@pytest.mark.parametrize(("text", "expected"), INSTALLMENTS)
def test_parse_installments(text: str, expected: int) -> None:
    assert parse_installments(text) == expected


@pytest.mark.parametrize("text", NOT_INSTALLMENTS)
def test_parse_installments_none(text: str) -> None:
    assert parse_installments(text) is None


DATES = [
    ("dia 15", date(2026, 12, 15)),  # the 15th has passed this month
    ("dia 25", date(2026, 11, 25)),
    ("dia 20", TODAY),  # today is the 20th: still this month
    ("pago dia quinze", date(2026, 12, 15)),
    ("dia primeiro", date(2026, 12, 1)),
    ("dia 31", date(2026, 11, 30)),  # November has 30 days
    ("15/12", date(2026, 12, 15)),
    ("15/01", date(2027, 1, 15)),  # rolls over to next year
    ("15/12/2026", date(2026, 12, 15)),
    ("15/12/26", date(2026, 12, 15)),
    ("2026-12-15", date(2026, 12, 15)),
    ("15 de dezembro", date(2026, 12, 15)),
    ("dia 5 de janeiro", date(2027, 1, 5)),
    ("hoje", TODAY),
    ("amanhã", date(2026, 11, 21)),
    ("amanha", date(2026, 11, 21)),
    ("depois de amanhã", date(2026, 11, 22)),
    ("segunda", date(2026, 11, 23)),
    ("segunda-feira", date(2026, 11, 23)),
    ("posso pagar na próxima terça?", date(2026, 11, 24)),
    ("quinta feira que vem", date(2026, 11, 26)),
    ("sexta", date(2026, 11, 27)),  # today is Friday: the next one
    ("sábado", date(2026, 11, 21)),
    ("hoje não dá, só sexta", date(2026, 11, 27)),
    ("semana que vem", date(2026, 11, 27)),
    ("próxima semana", date(2026, 11, 27)),
    ("mês que vem", date(2026, 12, 20)),
    ("mes que vem", date(2026, 12, 20)),
    ("fim do mês", date(2026, 11, 30)),
    ("no final do mes", date(2026, 11, 30)),
    ("fim do mês que vem", date(2026, 12, 31)),
    ("dia 10 do mês que vem", date(2026, 12, 10)),
    ("daqui a 10 dias", date(2026, 11, 30)),
    ("daqui a dez dias", date(2026, 11, 30)),
    ("daqui 3 dias", date(2026, 11, 23)),
    ("em 2 semanas", date(2026, 12, 4)),
    ("daqui a uma semana", date(2026, 11, 27)),
    ("pago a segunda parcela dia 30", date(2026, 11, 30)),
]

NOT_DATES = [
    "",
    "oi",
    "10x",
    "R$ 1.500,00",
    "12.345.678/0001-95",
    "10/11/2026",  # in the past
    "2025-12-15",  # in the past
    "30/02",  # no such day
    "dia 32",
    "segunda via do boleto",
    "quero 12 parcelas",
]


@pytest.mark.parametrize(("text", "expected"), DATES)
def test_parse_date(text: str, expected: date) -> None:
    assert parse_date(text, TODAY) == expected


@pytest.mark.parametrize("text", NOT_DATES)
def test_parse_date_none(text: str) -> None:
    assert parse_date(text, TODAY) is None


@pytest.mark.parametrize(
    ("text", "today", "expected"),
    [
        ("dia 31", date(2026, 2, 10), date(2026, 2, 28)),  # clamped to the month's last day
        ("mês que vem", date(2026, 1, 31), date(2026, 2, 28)),
        ("dia 10", date(2026, 12, 20), date(2027, 1, 10)),  # across the year
        ("fim do mês", date(2028, 2, 3), date(2028, 2, 29)),  # leap year
        ("fim do mês", date(2026, 11, 30), date(2026, 11, 30)),
    ],
)
def test_parse_date_month_edges(text: str, today: date, expected: date) -> None:
    assert parse_date(text, today) == expected


# Everything without an explicit year: within a year (29/02 may wait for the next leap year).
RELATIVE = [t for t, _ in DATES if not re.search(r"\d{4}|/\d+/", t)] + ["dia 1", "dia 31", "01/01", "31/12"]


@given(
    today=st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)), text=st.sampled_from(RELATIVE)
)
def test_parse_date_never_in_the_past(today: date, text: str) -> None:
    found = parse_date(text, today)
    assert found is not None
    assert today <= found <= today + timedelta(days=366)


def test_parse_date_keeps_a_future_explicit_year() -> None:
    assert parse_date("15/12/2030", TODAY) == date(2030, 12, 15)


def _offer(kind: CounterOfferKind, amount: str, installments: int | None = None) -> CounterOffer:
    return CounterOffer(kind, Decimal(amount), installments)


MONTHLY, DOWN, CASH = (
    CounterOfferKind.MONTHLY_AMOUNT,
    CounterOfferKind.DOWN_PAYMENT,
    CounterOfferKind.CASH_AMOUNT,
)

COUNTER_OFFERS = [
    ("consigo 500 por mês", _offer(MONTHLY, "500.00")),
    ("pago 700 mensais", _offer(MONTHLY, "700.00")),
    ("R$ 450/mês", _offer(MONTHLY, "450.00")),
    ("parcelas de 300", _offer(MONTHLY, "300.00")),
    ("10 de 300", _offer(MONTHLY, "300.00", 10)),
    ("posso fazer 10x de 300", _offer(MONTHLY, "300.00", 10)),
    ("faço 3 vezes de 500", _offer(MONTHLY, "500.00", 3)),
    ("quinhentos reais por mês em doze vezes", _offer(MONTHLY, "500.00", 12)),
    ("consigo pagar 3 mil em 10x", _offer(MONTHLY, "300.00", 10)),  # a total to split
    ("1.000 em 3 vezes", _offer(MONTHLY, "333.33", 3)),
    ("1000 de entrada", _offer(DOWN, "1000.00")),
    ("dou 2 mil de entrada", _offer(DOWN, "2000.00")),
    ("posso dar de sinal 800", _offer(DOWN, "800.00")),
    ("1000 de entrada e o resto em 10x", _offer(DOWN, "1000.00", 10)),
    ("entrada de R$ 1.500,00 e 12 parcelas de 400", _offer(DOWN, "1500.00", 12)),
    ("12 parcelas de 400 e entrada de 1.500", _offer(DOWN, "1500.00", 12)),
    ("pago 3 mil à vista", _offer(CASH, "3000.00")),
    ("te pago 5000 no pix", _offer(CASH, "5000.00")),
    ("R$ 2.000 a vista", _offer(CASH, "2000.00")),
    ("quito com 4 mil", _offer(CASH, "4000.00")),
    ("pago 2500 de uma vez", _offer(CASH, "2500.00")),
]

NOT_COUNTER_OFFERS = [
    "",
    "oi",
    "consigo 500",  # no kind can be told from the text
    "quero parcelar em 10x",  # no amount
    "pago no pix",
    "dia 15 eu pago",
    "12.345.678/0001-95",
]


@pytest.mark.parametrize(("text", "expected"), COUNTER_OFFERS)
def test_parse_counter_offer(text: str, expected: CounterOffer) -> None:
    assert parse_counter_offer(text) == expected


@pytest.mark.parametrize("text", NOT_COUNTER_OFFERS)
def test_parse_counter_offer_none(text: str) -> None:
    assert parse_counter_offer(text) is None


def test_counter_offer_kind_values_are_stable() -> None:
    # The action server and the API send these strings; renaming them breaks the contract.
    assert [k.value for k in CounterOfferKind] == ["monthly_amount", "down_payment", "cash_amount"]


@pytest.mark.parametrize(
    "junk", ["9" * 20_000, "9 " * 10_000, "mil e " * 3_000, "dia " * 5_000, "+" * 20_000]
)
def test_long_pasted_text_is_handled(junk: str) -> None:
    # Every pattern is anchored or bounded, so a pasted wall of text cannot stall a worker
    # (these inputs took minutes with unanchored "\d+" patterns); the message still parses.
    text = junk + " pago R$ 300 por mês em 10x dia 15"
    assert parse_amount(text) == Decimal("300.00")
    assert parse_installments(text) == 10
    assert parse_date(text, TODAY) == date(2026, 12, 15)
    assert parse_counter_offer(text) == _offer(MONTHLY, "300.00", 10)
