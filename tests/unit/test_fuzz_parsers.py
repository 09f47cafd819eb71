"""Fuzzing (hypothesis, bounded: 200 examples, no deadline) of everything that reads outside
input: the portfolio CSV, BR Codes, amounts and dates typed by debtors, phones, CNPJs, money.
Each parser either returns a value or raises its own documented error, never anything else.
Crashers found are kept below as explicit regression tests."""

from __future__ import annotations

import contextlib
from datetime import date
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.domain import parsing, portfolio
from server.domain.cnpj import InvalidCNPJ
from server.domain.money import to_cents, updated_balance
from server.domain.phone import InvalidPhone, match_key, normalize_phone
from server.domain.pix import InvalidBRCode, PixError, StaticPix, encode_static, parse_brcode
from server.domain.portfolio import InvalidValue, parse_portfolio

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TODAY = date(2026, 12, 1)
HEADER = "cnpj;razao_social;segmento;contato_nome;contato_telefone;contato_email;fatura;emissao;vencimento;valor;descricao"
CELL = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20)
CSV_CHARS = st.sampled_from(list("0123456789;,.-/\"' \n\r\tABCabcçãé+()@R$"))


@FUZZ
@given(st.binary(max_size=600))
def test_portfolio_bytes_never_crash(data: bytes) -> None:
    parsed = parse_portfolio(data)
    assert parsed.ok or parsed.errors


@FUZZ
@given(st.lists(st.lists(CELL, min_size=0, max_size=13), max_size=6), st.sampled_from([";", ","]))
def test_portfolio_rows_under_the_real_header_never_crash(rows: list[list[str]], sep: str) -> None:
    text = "\n".join([HEADER.replace(";", sep), *(sep.join(r) for r in rows)])
    for encoding in ("utf-8", "utf-8-sig"):
        parsed = parse_portfolio(text.encode(encoding, errors="replace"))
        for error in parsed.errors:
            assert error.line >= 1 and error.reason


@FUZZ
@given(st.text(CSV_CHARS, max_size=300))
def test_portfolio_csv_punctuation_soup_never_crashes(text: str) -> None:
    parse_portfolio((HEADER + "\n" + text).encode())


@FUZZ
@given(st.text(max_size=40))
def test_portfolio_cell_parsers_raise_only_invalid_value(raw: str) -> None:
    for parse in (portfolio.parse_cnpj, portfolio.parse_date, portfolio.parse_amount, portfolio.parse_phone,
                  portfolio.parse_email):  # fmt: skip
        with contextlib.suppress(InvalidValue, InvalidCNPJ, InvalidPhone):
            parse(raw)


@FUZZ
@given(st.text(max_size=120))
def test_brcode_parser_raises_only_invalid_brcode(payload: str) -> None:
    with contextlib.suppress(PixError):
        parse_brcode(payload)


@FUZZ
@given(st.text(alphabet="0123456789ABCDEF", max_size=80), st.integers(0, 60))
def test_brcode_with_valid_crc_but_broken_body(body: str, cut: int) -> None:
    import binascii

    data = body[:cut] + "6304"
    payload = data + f"{binascii.crc_hqx(data.encode(), 0xFFFF):04X}"
    with contextlib.suppress(PixError):
        parse_brcode(payload)


@FUZZ
@given(
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal("9999999.99"), places=2),
    st.text(
        alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=25
    ),
)
def test_brcode_round_trip(amount: Decimal, txid: str) -> None:
    code = encode_static(StaticPix(key="33445566000186", merchant_name="Horizonte", merchant_city="Belo Horizonte",
                                   amount=amount, txid=txid))  # fmt: skip
    parsed = parse_brcode(code)
    assert parsed.amount == amount and parsed.txid == txid
    for i in range(0, len(code), max(1, len(code) // 7)):  # any corruption is refused, not a crash
        corrupted = code[:i] + ("0" if code[i] != "0" else "1") + code[i + 1 :]
        with contextlib.suppress(InvalidBRCode):
            parse_brcode(corrupted)


@FUZZ
@given(st.text(max_size=60))
def test_typed_amounts_dates_and_counter_offers_never_crash(text: str) -> None:
    amount = parsing.parse_amount(text)
    assert amount is None or (isinstance(amount, Decimal) and amount == amount.quantize(Decimal("0.01")))
    parsed_date = parsing.parse_date(text, TODAY)
    assert parsed_date is None or isinstance(parsed_date, date)
    n = parsing.parse_installments(text)
    assert n is None or n > 0
    parsing.parse_counter_offer(text)


@FUZZ
@given(st.text(alphabet="0123456789 ()+-.,/R$realmilcentosdezvintetrinta", max_size=40))
def test_money_like_text_never_crashes(text: str) -> None:
    parsing.parse_amount(text)
    parsing.parse_counter_offer(text)


@FUZZ
@given(st.text(max_size=30))
def test_phone_normalisation_raises_only_invalid_phone(raw: str) -> None:
    try:
        e164 = normalize_phone(raw)
    except InvalidPhone:
        return
    assert e164.startswith("+55") and normalize_phone(e164) == e164 and len(match_key(e164)) == 10


@FUZZ
@given(
    st.decimals(
        min_value=Decimal("-1000000"), max_value=Decimal("100000000"), allow_nan=False, allow_infinity=False
    ),
    st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 1, 1)),
)
def test_money_normalisation(principal: Decimal, due: date) -> None:
    cents = to_cents(principal)
    assert cents == cents.quantize(Decimal("0.01"))
    if cents >= 0:
        balance = updated_balance(cents, due, TODAY)
        assert balance.total >= cents


# -- crashers found by the fuzzing, kept as regression tests ---------------------------------
