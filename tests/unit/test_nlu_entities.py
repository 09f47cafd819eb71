"""The entity regexes of data/nlu/entities.yml as Rasa's RegexEntityExtractor applies them
(re.IGNORECASE, every pattern of an entity, no word boundaries added): the date tagger that
replaced DIET, and what it must leave alone."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
import yaml

from server.domain.parsing import parse_date

ROOT = Path(__file__).resolve().parents[2]


def _patterns() -> dict[str, list[re.Pattern[str]]]:
    data = yaml.safe_load((ROOT / "data" / "nlu" / "entities.yml").read_text(encoding="utf-8"))
    found: dict[str, list[re.Pattern[str]]] = {}
    for item in data["nlu"]:
        if "regex" in item:
            lines = [line.strip()[2:] for line in item["examples"].splitlines() if line.strip()]
            found.setdefault(item["regex"], []).extend(re.compile(p, re.IGNORECASE) for p in lines)
    return found


PATTERNS = _patterns()


def spans(entity: str, text: str) -> list[str]:
    return sorted({m.group(0) for rx in PATTERNS[entity] for m in rx.finditer(text)})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("posso pagar dia 10?", ["dia 10"]),
        ("me dá até o dia 15 do mês que vem", ["dia 15 do mês que vem"]),
        ("consigo pagar em 15/12", ["15/12"]),
        ("pago 30/01/2027", ["30/01/2027"]),
        ("só no dia 2027-01-15", ["2027-01-15"]),
        ("consigo dia 20 de janeiro", ["dia 20 de janeiro"]),
        ("pago 20 de janeiro", ["20 de janeiro"]),
        ("amanhã cedo eu pago", ["amanhã cedo"]),
        ("depois de amanhã", ["depois de amanhã"]),
        ("paguei ontem", ["ontem"]),
        ("pago na sexta que vem", ["sexta que vem"]),
        ("só na segunda-feira", ["segunda-feira"]),
        ("pode ser semana que vem?", ["semana que vem"]),
        ("mes q vem eu acerto", ["mes q vem"]),
        ("segura até o fim do mês", ["fim do mês"]),
        ("consigo daqui a dez dias", ["daqui a dez dias"]),
        ("consigo em uma semana", ["em uma semana"]),
        ("só em fevereiro", ["fevereiro"]),
        ("depois do feriado eu vejo", ["depois do feriado"]),
        ("PAGO DIA 5", ["DIA 5"]),
    ],
)
def test_dates_are_tagged(text: str, expected: list[str]) -> None:
    assert spans("date", text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "quero a segunda opção",
        "a segunda",
        "manda a segunda via do boleto",
        "pode ser a quarta parcela",
        "R$ 1.500,00",
        "parcela em 10x",
        "12 parcelas de 300",
        "12.345.678",
        "12.345.678/0001-95",
        "o cnpj é 12345678",
        "3 mil à vista",
        "dia",
        "bom dia",
        "hojeeee",
        "ninguém responde faz uma semana",
        "15 dias de atraso",
    ],
)
def test_no_date_where_there_is_none(text: str) -> None:
    assert spans("date", text) == []


@pytest.mark.parametrize(
    "text",
    ["dia 10", "dia 15 do mês que vem", "15/12", "20 de janeiro", "amanhã", "sexta que vem", "semana que vem",
     "mês que vem", "fim do mês", "daqui a dez dias", "em uma semana", "hoje"],
)  # fmt: skip
def test_what_is_tagged_as_a_future_date_the_server_reads(text: str) -> None:
    # The server reads dates from the message text, not the entity; a tagged span on its own must
    # read as the same kind of date, or the tag would promise what the negotiation ignores.
    assert spans("date", f"posso pagar {text}?") == [text]
    assert parse_date(text, date(2026, 12, 4)) is not None


def test_amounts_and_counts_keep_their_own_tags() -> None:
    text = "pago 500 de entrada e 10x de 300 dia 15"
    assert spans("amount", text) == ["300", "500"]
    assert spans("installments", text) == ["10x"]
    assert spans("date", text) == ["dia 15"]
