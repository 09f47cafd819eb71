import pytest

from server.domain.cnpj import InvalidCNPJ, format_cnpj, normalize_cnpj, parse_root, root_of


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("12.345.678/0001-95", "12345678000195"),
        ("12345678000195", "12345678000195"),
        (" 12 345 678/0001-95 ", "12345678000195"),
        ("12.ABC.345/01DE-35", "12ABC34501DE35"),  # Receita Federal's example of the 2026 format
        ("12abc34501de35", "12ABC34501DE35"),
        ("345678000106", "00345678000106"),  # leading zeros lost by a spreadsheet
    ],
)
def test_normalize_accepts_numeric_and_alphanumeric(raw: str, expected: str) -> None:
    assert normalize_cnpj(raw) == expected


@pytest.mark.parametrize(
    "raw, reason",
    [
        ("12.345.678/0001-96", "dígitos verificadores"),
        ("12345678000", "14 caracteres"),
        ("123456780001955", "14 caracteres"),
        ("11111111111111", "inválido"),
        ("12.ABC.345/01DE-3X", "caracteres inválidos"),
        ("12.AB?.345/01DE-35", "caracteres inválidos"),
    ],
)
def test_normalize_rejects_with_reason(raw: str, reason: str) -> None:
    with pytest.raises(InvalidCNPJ, match=reason):
        normalize_cnpj(raw)


def test_format_and_root() -> None:
    assert format_cnpj("12ABC34501DE35") == "12.ABC.345/01DE-35"
    assert root_of("12.345.678/0001-95") == "12345678"


@pytest.mark.parametrize(
    "text, root",
    [
        ("12.345.678", "12345678"),
        ("12345678", "12345678"),
        ("o cnpj é 12.345.678/0001-95", "12345678"),
        ("é 12.ABC.345", "12ABC345"),
        ("raiz 12abc345 ok", "12ABC345"),
        ("quanto eu devo?", None),
        ("oi", None),
        ("", None),
    ],
)
def test_parse_root_from_typed_text(text: str, root: str | None) -> None:
    assert parse_root(text) == root
