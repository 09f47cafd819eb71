"""The portfolio CSV format (DESIGN §3): every bad input reported with line and column."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from server.domain.portfolio import COLUMNS, ParsedPortfolio, RowError, parse_amount, parse_portfolio

HEADER = ";".join(COLUMNS)
CNPJ_A = "11.222.333/0001-81"
CNPJ_B = "98765432000198"
CNPJ_ALNUM = "12.ABC.345/01DE-35"

GOOD = {
    "cnpj": CNPJ_A,
    "razao_social": "Mercado Bom Preço Ltda",
    "segmento": "Varejo",
    "contato_nome": "Ana Souza",
    "contato_telefone": "(11) 98765-4321",
    "contato_email": "ana@bompreco.com.br",
    "fatura": "NF-1",
    "emissao": "01/02/2026",
    "vencimento": "03/03/2026",
    "valor": "1.234,56",
    "descricao": "Pedido 77",
}


def row(**changes: str) -> str:
    values = {**GOOD, **changes}
    return ";".join(values[c] for c in COLUMNS)


def csv_bytes(*rows: str, header: str = HEADER, encoding: str = "utf-8") -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode(encoding)


def parse(*rows: str) -> ParsedPortfolio:
    return parse_portfolio(csv_bytes(*rows))


def only_error(result: ParsedPortfolio) -> RowError:
    assert len(result.errors) == 1, result.errors
    return result.errors[0]


# --- good files ----------------------------------------------------------------------------


def test_good_row_gives_debtor_contact_and_invoice() -> None:
    result = parse(row())
    assert result.ok and result.rows == 1
    debtor = result.debtors["11222333000181"]
    assert debtor.legal_name == "Mercado Bom Preço Ltda" and debtor.segment == "Varejo"
    assert debtor.cnpj_root == "11222333"
    [contact] = debtor.contacts
    assert contact.phone_e164 == "+5511987654321" and contact.phone_key == "1187654321"
    assert contact.email == "ana@bompreco.com.br" and contact.name == "Ana Souza"
    [invoice] = debtor.invoices
    assert invoice.number == "NF-1" and invoice.principal == Decimal("1234.56")
    assert invoice.issue_date == date(2026, 2, 1) and invoice.due_date == date(2026, 3, 3)
    assert invoice.description == "Pedido 77" and invoice.line == 2


def test_comma_delimiter_and_quoted_fields() -> None:
    header = ",".join(COLUMNS)
    line = (
        f'{CNPJ_A},"Mercado, Bom Preço Ltda",Varejo,Ana,11987654321,,NF-1,2026-02-01,2026-03-03,"1.234,56",'
    )
    result = parse_portfolio(csv_bytes(line, header=header))
    assert result.ok, result.errors
    debtor = result.debtors["11222333000181"]
    assert debtor.legal_name == "Mercado, Bom Preço Ltda"
    assert debtor.invoices[0].principal == Decimal("1234.56")
    assert debtor.invoices[0].description is None


def test_utf8_with_bom() -> None:
    result = parse_portfolio(b"\xef\xbb\xbf" + csv_bytes(row(razao_social="São Paulo Comércio")))
    assert result.ok, result.errors
    assert result.debtors["11222333000181"].legal_name == "São Paulo Comércio"


def test_latin1() -> None:
    data = csv_bytes(row(razao_social="São Paulo Comércio", contato_nome="João"), encoding="latin-1")
    result = parse_portfolio(data)
    assert result.ok, result.errors
    debtor = result.debtors["11222333000181"]
    assert debtor.legal_name == "São Paulo Comércio" and debtor.contacts[0].name == "João"


def test_crlf_line_endings() -> None:
    data = ("\r\n".join([HEADER, row(), row(fatura="NF-2")]) + "\r\n").encode()
    result = parse_portfolio(data)
    assert result.ok and result.invoice_count == 2


def test_header_is_case_accent_and_space_insensitive_in_any_order() -> None:
    header = "CNPJ; Razão Social ;Segmento;Contato Nome;CONTATO_TELEFONE;contato_email;Fatura;Emissão;Vencimento;Valor;Descrição"
    result = parse_portfolio(csv_bytes(row(), header=header))
    assert result.ok, result.errors
    reordered = list(reversed(COLUMNS))
    line = ";".join({**GOOD}[c] for c in reordered)
    result = parse_portfolio(csv_bytes(line, header=";".join(reordered)))
    assert result.ok and result.debtors["11222333000181"].invoices[0].number == "NF-1"


def test_unknown_columns_are_ignored_and_listed() -> None:
    result = parse_portfolio(csv_bytes(row() + ";aberto", header=HEADER + ";Status"))
    assert result.ok
    assert result.ignored_columns == ["Status"]


def test_alphanumeric_cnpj() -> None:
    result = parse(row(cnpj=CNPJ_ALNUM))
    assert result.ok, result.errors
    assert result.debtors["12ABC34501DE35"].cnpj_root == "12ABC345"


def test_cnpj_without_punctuation_and_lost_leading_zero() -> None:
    result = parse(
        row(cnpj="11222333000181"),
        row(cnpj="4556677000161", razao_social="Padaria Sol", fatura="NF-2"),
    )
    assert result.ok, result.errors
    assert set(result.debtors) == {"11222333000181", "04556677000161"}


@pytest.mark.parametrize(
    "phone",
    [
        "(11) 98765-4321",
        "+55 11 98765-4321",
        "11987654321",
        "5511987654321",
        "0xx11 98765-4321",
        "011 98765-4321",
    ],
)
def test_phone_writings(phone: str) -> None:
    result = parse(row(contato_telefone=phone))
    assert result.ok, result.errors
    assert result.debtors["11222333000181"].contacts[0].phone_e164 == "+5511987654321"


def test_landline_phone() -> None:
    result = parse(row(contato_telefone="(31) 3333-4444"))
    assert result.debtors["11222333000181"].contacts[0].phone_e164 == "+553133334444"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1.234,56", "1234.56"),
        ("1234,56", "1234.56"),
        ("1234.56", "1234.56"),
        ("R$ 1.234,56", "1234.56"),
        ("R$1234.5", "1234.50"),
        ("1.234", "1234.00"),  # a dot and three digits: thousands (amounts never have 3 decimals)
        ("1.234.567,8", "1234567.80"),
        ("1.234.567", "1234567.00"),
        ("0,01", "0.01"),
        ("150", "150.00"),
    ],
)
def test_amount_writings(raw: str, expected: str) -> None:
    value = parse_amount(raw)
    assert isinstance(value, Decimal) and value == Decimal(expected)
    assert value.as_tuple().exponent == -2


def test_iso_and_brazilian_dates() -> None:
    result = parse(row(emissao="2026-02-01", vencimento="3/3/2026"))
    invoice = result.debtors["11222333000181"].invoices[0]
    assert (invoice.issue_date, invoice.due_date) == (date(2026, 2, 1), date(2026, 3, 3))


def test_same_issue_and_due_date_is_fine() -> None:
    assert parse(row(emissao="03/03/2026", vencimento="2026-03-03")).ok


def test_invoice_on_two_rows_is_one_invoice_with_two_contacts() -> None:
    result = parse(
        row(),
        row(contato_nome="Bruno", contato_telefone="+55 21 99876-5432", contato_email="", valor="1234.56"),
    )
    assert result.ok, result.errors
    debtor = result.debtors["11222333000181"]
    assert len(debtor.invoices) == 1 and result.invoice_count == 1
    assert [c.name for c in debtor.contacts] == ["Ana Souza", "Bruno"]
    assert result.rows == 2


def test_contacts_are_merged_by_phone_key_and_email() -> None:
    result = parse(
        row(contato_email=""),
        # Same mobile without the ninth digit: the same contact, whose e-mail is now known.
        row(fatura="NF-2", contato_telefone="(11) 8765-4321", contato_email="ana@bompreco.com.br"),
        row(fatura="NF-3", contato_telefone="", contato_email="ANA@bompreco.com.br"),
        row(fatura="NF-4", contato_nome="Carla", contato_telefone="", contato_email="carla@bompreco.com.br"),
    )
    assert result.ok, result.errors
    contacts = result.debtors["11222333000181"].contacts
    assert [(c.name, c.phone_key, c.email) for c in contacts] == [
        ("Ana Souza", "1187654321", "ana@bompreco.com.br"),
        ("Carla", None, "carla@bompreco.com.br"),
    ]


def test_several_debtors_and_optional_fields() -> None:
    result = parse(
        row(),
        row(cnpj=CNPJ_B, razao_social="Padaria Sol", segmento="", contato_nome="", fatura="X9", descricao=""),
    )
    assert result.ok, result.errors
    other = result.debtors[CNPJ_B]
    assert other.segment is None and other.contacts[0].name == ""
    assert other.invoices[0].description is None


def test_debtor_segment_given_on_a_later_row_is_kept() -> None:
    result = parse(row(segmento=""), row(fatura="NF-2", segmento="Varejo"))
    assert result.ok and result.debtors["11222333000181"].segment == "Varejo"


def test_repeated_spaces_and_case_do_not_make_a_different_debtor() -> None:
    result = parse(row(), row(fatura="NF-2", razao_social="MERCADO  BOM PREÇO LTDA "))
    assert result.ok, result.errors
    assert result.debtors["11222333000181"].legal_name == "Mercado Bom Preço Ltda"


def test_blank_lines_are_skipped_and_line_numbers_stay_physical() -> None:
    result = parse("", row(), ";;;;;;;;;;", row(fatura="NF-2", valor="abc"))
    error = only_error(result)
    assert (error.line, error.column) == (5, "valor")
    assert result.rows == 2


def test_line_numbers_count_newlines_inside_quoted_fields() -> None:
    result = parse(row(descricao='"Pedido\nem duas linhas"'), row(fatura="NF-2", valor="0"))
    assert only_error(result).line == 4
    [debtor] = parse(row(descricao='"Pedido\nem duas linhas"')).debtors.values()
    assert debtor.invoices[0].description == "Pedido em duas linhas"


# --- bad files -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "column", "reason"),
    [
        ({"cnpj": "11.222.333/0001-82"}, "cnpj", "dígitos verificadores"),
        ({"cnpj": "12.ABC.345/01DE-36"}, "cnpj", "dígitos verificadores"),
        ({"cnpj": "1122233300"}, "cnpj", "14 caracteres"),
        ({"cnpj": "112223330001811"}, "cnpj", "14 caracteres"),
        ({"cnpj": "11.222.333/0001-8#"}, "cnpj", "CNPJ"),
        ({"cnpj": "00000000000000"}, "cnpj", "CNPJ inválido"),
        ({"cnpj": ""}, "cnpj", "campo obrigatório vazio"),
        ({"razao_social": ""}, "razao_social", "campo obrigatório vazio"),
        ({"razao_social": "x" * 201}, "razao_social", "longo demais"),
        ({"fatura": ""}, "fatura", "campo obrigatório vazio"),
        ({"fatura": "9" * 61}, "fatura", "longo demais"),
        (
            {"vencimento": "31/02/2026"},
            "vencimento",
            "data inválida '31/02/2026' (use dd/mm/aaaa ou aaaa-mm-dd)",
        ),
        ({"vencimento": "2026-02-30"}, "vencimento", "data inválida"),
        ({"emissao": "2026/02/01"}, "emissao", "data inválida"),
        ({"emissao": "01-02-2026"}, "emissao", "data inválida"),
        ({"emissao": "01/02/26"}, "emissao", "data inválida"),
        ({"emissao": "amanhã"}, "emissao", "data inválida"),
        ({"emissao": "01/13/2026"}, "emissao", "data inválida"),
        ({"emissao": ""}, "emissao", "campo obrigatório vazio"),
        ({"emissao": "04/03/2026"}, "emissao", "posterior ao vencimento (03/03/2026)"),
        ({"valor": "abc"}, "valor", "valor inválido"),
        ({"valor": "1,234.56"}, "valor", "valor inválido"),
        ({"valor": "12.34.56"}, "valor", "valor inválido"),
        ({"valor": "1.23,45"}, "valor", "valor inválido"),
        ({"valor": "1,2,3"}, "valor", "valor inválido"),
        ({"valor": "R$"}, "valor", "valor inválido"),
        ({"valor": "0,00"}, "valor", "maior que zero"),
        ({"valor": "0"}, "valor", "maior que zero"),
        ({"valor": "-10,00"}, "valor", "maior que zero"),
        ({"valor": "10,123"}, "valor", "mais de 2 casas decimais"),
        ({"valor": "1234.567"}, "valor", "mais de 2 casas decimais"),
        ({"valor": "1e3"}, "valor", "valor inválido"),
        ({"valor": "1.000.000.000.000,00"}, "valor", "grande demais"),
        ({"valor": ""}, "valor", "campo obrigatório vazio"),
        (
            {"contato_telefone": "", "contato_email": ""},
            "contato_telefone",
            "contato sem telefone nem e-mail",
        ),
        ({"contato_telefone": "9876-5432"}, "contato_telefone", "telefone inválido"),
        ({"contato_telefone": "(20) 98765-4321"}, "contato_telefone", "DDD 20 inexistente"),
        ({"contato_telefone": "+1 415 555 0100"}, "contato_telefone", "telefone inválido"),
        ({"contato_telefone": "fale com Ana"}, "contato_telefone", "telefone inválido"),
        ({"contato_email": "ana@"}, "contato_email", "e-mail inválido"),
        ({"contato_email": "ana bompreco.com"}, "contato_email", "e-mail inválido"),
        ({"contato_email": "ana@bompreco"}, "contato_email", "e-mail inválido"),
    ],
)
def test_bad_value(changes: dict[str, str], column: str, reason: str) -> None:
    result = parse(row(), row(**{"fatura": "NF-2", **changes}))
    error = only_error(result)
    assert (error.line, error.column) == (3, column)
    assert reason in error.reason
    assert error.reason[0].islower() or error.reason.startswith(("CNPJ", "DDD"))


def test_three_decimal_places_do_not_round() -> None:
    with pytest.raises(ValueError, match="casas decimais"):
        parse_amount("1,005")


def test_a_row_with_several_problems_reports_each_column() -> None:
    result = parse(
        row(cnpj="123", vencimento="32/01/2026", valor="x", contato_email="@", contato_telefone="1")
    )
    assert [(e.line, e.column) for e in result.errors] == [
        (2, "cnpj"),
        (2, "contato_telefone"),
        (2, "contato_email"),
        (2, "vencimento"),
        (2, "valor"),
    ]


def test_every_bad_row_is_reported_with_line_and_column() -> None:
    result = parse(
        row(),
        row(fatura="NF-2", cnpj="11.222.333/0001-00"),
        row(fatura="NF-3"),
        row(fatura="NF-4", emissao="30/02/2026"),
        row(fatura="NF-5", valor="-1"),
        row(fatura="NF-6", contato_telefone="", contato_email=""),
    )
    assert [(e.line, e.column) for e in result.errors] == [
        (3, "cnpj"),
        (5, "emissao"),
        (6, "valor"),
        (7, "contato_telefone"),
    ]


def test_duplicate_invoice_rows_that_disagree() -> None:
    result = parse(
        row(),
        row(contato_telefone="21998765432", valor="1.234,57"),
        row(contato_telefone="21998765433", vencimento="04/03/2026", descricao="outro"),
    )
    assert [(e.line, e.column) for e in result.errors] == [(3, "valor"), (4, "vencimento"), (4, "descricao")]
    assert result.errors[0].reason == (
        "fatura NF-1 aparece com dados diferentes na linha 2: valor '1.234,56' ≠ '1.234,57'"
    )


def test_same_invoice_number_for_another_debtor() -> None:
    result = parse(row(), row(cnpj=CNPJ_B, razao_social="Padaria Sol"))
    error = only_error(result)
    assert (error.line, error.column) == (3, "cnpj")
    assert "fatura NF-1 aparece com dados diferentes na linha 2" in error.reason
    assert "11.222.333/0001-81" in error.reason and "98.765.432/0001-98" in error.reason


def test_same_cnpj_with_another_razao_social_or_segment() -> None:
    result = parse(
        row(),
        row(fatura="NF-2", razao_social="Outra Empresa Ltda"),
        row(fatura="NF-3", cnpj="11222333000181", segmento="Atacado"),
    )
    assert [(e.line, e.column) for e in result.errors] == [(3, "razao_social"), (4, "segmento")]
    assert "CNPJ 11.222.333/0001-81 aparece com outra razão social na linha 2" in result.errors[0].reason


def test_missing_column() -> None:
    header = HEADER.replace(";vencimento", "")
    line = ";".join(v for c, v in GOOD.items() if c != "vencimento")
    result = parse_portfolio(csv_bytes(line, header=header))
    error = only_error(result)
    assert (error.line, error.column) == (1, "vencimento")
    assert error.reason == "coluna obrigatória 'vencimento' ausente no cabeçalho"
    assert not result.debtors


def test_misspelt_column_is_missing() -> None:
    result = parse_portfolio(csv_bytes(row(), header=HEADER.replace("vencimento", "vencimeto")))
    assert [(e.line, e.column) for e in result.errors] == [(1, "vencimento")]
    assert result.ignored_columns == ["vencimeto"]


def test_repeated_column() -> None:
    result = parse_portfolio(csv_bytes(row() + ";x", header=HEADER + ";valor"))
    assert [(e.line, e.column) for e in result.errors] == [(1, "valor")]
    assert "repetida" in result.errors[0].reason


def test_wrong_delimiter_in_header_reports_missing_columns() -> None:
    result = parse_portfolio(csv_bytes(row(), header=HEADER.replace(";", "\t")))
    assert {e.line for e in result.errors} == {1}
    assert len(result.errors) == len(COLUMNS)


@pytest.mark.parametrize("data", [b"", b"\n\n", b"\xef\xbb\xbf", b"   \r\n"])
def test_empty_file(data: bytes) -> None:
    error = only_error(parse_portfolio(data))
    assert (error.line, error.reason) == (1, "arquivo sem linhas de dados")


@pytest.mark.parametrize(
    "data", [HEADER.encode(), (HEADER + "\n").encode(), (HEADER + "\n\n;;;;;;;;;;\n").encode()]
)
def test_header_only(data: bytes) -> None:
    error = only_error(parse_portfolio(data))
    assert (error.line, error.column, error.reason) == (1, "", "arquivo sem linhas de dados")


def test_row_with_too_few_or_too_many_fields() -> None:
    result = parse(row(), "1;2;3", row(fatura="NF-2") + ";extra;")
    assert [(e.line, e.column) for e in result.errors] == [(3, ""), (4, "")]
    assert "o cabeçalho tem 11" in result.errors[0].reason


def test_trailing_empty_fields_are_tolerated() -> None:
    assert parse(row() + ";;").ok


def test_binary_garbage_is_an_error_not_an_exception() -> None:
    result = parse_portfolio(csv_bytes(row()) + b"\x00\x01\x02;\xff\n")
    assert not result.ok


def test_unclosed_quote_is_reported_instead_of_swallowing_rows() -> None:
    result = parse(row(), row(fatura="NF-2", descricao='"aberta'), row(fatura="NF-3"))
    error = only_error(result)
    assert (error.line, error.column) == (3, "")
    assert "aspas" in error.reason


def test_quote_inside_an_unquoted_field_is_text() -> None:
    result = parse(row(razao_social='Padaria "Sol" Ltda'))
    assert result.ok and result.debtors["11222333000181"].legal_name == 'Padaria "Sol" Ltda'
