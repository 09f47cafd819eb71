"""BR Code encoder and parser: golden payloads, field rules, bad input and properties."""

from __future__ import annotations

import binascii
import string
from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from server.domain.cnpj import check_digits
from server.domain.pix import (
    DynamicPix,
    InvalidBRCode,
    InvalidPixData,
    StaticPix,
    crc16,
    encode_dynamic,
    encode_static,
    fit_pix_text,
    is_valid_cpf,
    normalize_pix_key,
    parse_brcode,
)

# Banco Central, "Manual de Padrões para Iniciação do Pix": the static example (EVP key, no
# amount) and the dynamic example (location URL, point of initiation 12).
BACEN_STATIC = (
    "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-426655440000"
    "5204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D"
)
BACEN_DYNAMIC = (
    "00020101021226700014br.gov.bcb.pix2548pix.example.com/8b3da2f39a4140d1a91abd93113bd441"
    "5204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***630464E4"
)
# Payloads from PSPs (Efí, Sicredi, and a PagSeguro API response with its own template 27 and an
# amount) as quoted in public code, CRCs verified. Parsed only: they show the parser reads other
# producers' codes, including upper-case GUIs.
EFI_DYNAMIC = (
    "00020101021226830014BR.GOV.BCB.PIX2561qrcodespix.sejaefi.com.br/v2/b3e136a97ea346f1a1747ca934d2e7a0"
    "5204000053039865802BR5905EFISA6008SAOPAULO62070503***6304D03A"
)
SICREDI_DYNAMIC = (
    "00020126850014br.gov.bcb.pix2563pixqrcode.sicredi.com.br/qr/v2/f9b0c2d2494249138f97c40dbde6bba8"
    "5204000053039865802BR5903PIX6006Cidade62070503***63043543"
)
PAGSEGURO_DYNAMIC = (
    "00020101021226830014br.gov.bcb.pix2561api.pagseguro.com/pix/v2/8D7D27E8-7167-4289-A1A7-90A18A26C126"
    "27600016BR.COM.PAGSEGURO01368D7D27E8-7167-4289-A1A7-90A18A26C126"
    "52048299530398654041.005802BR5922JUSTUTOR EDUCACAO LTDA6010Uberlandia62070503***6304CB09"
)
GOLDEN = [BACEN_STATIC, BACEN_DYNAMIC, EFI_DYNAMIC, SICREDI_DYNAMIC, PAGSEGURO_DYNAMIC]

VALID_CPF = "52998224725"
VALID_CNPJ = "12345678000195"


def with_crc(body: str) -> str:
    """Append a correct CRC field, so that only the rule under test can fail."""
    body += "6304"
    return body + f"{binascii.crc_hqx(body.encode(), 0xFFFF):04X}"


def walk_tlv(data: str) -> dict[str, str]:
    """An independent TLV reader for the tests: every declared length must match exactly."""
    out: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        tag, length = data[pos : pos + 2], int(data[pos + 2 : pos + 4])
        value = data[pos + 4 : pos + 4 + length]
        assert len(value) == length, f"field {tag} declares {length}, has {len(value)}"
        assert 1 <= length <= 99
        out[tag] = value
        pos += 4 + length
    assert pos == len(data)
    return out


# -- CRC and golden payloads ---------------------------------------------------------------------


def test_crc16_is_ccitt_false() -> None:
    assert crc16("123456789") == "29B1"  # the catalogued check value of CRC-16/CCITT-FALSE


@pytest.mark.parametrize("payload", GOLDEN)
def test_golden_crcs_verify_with_crc_hqx(payload: str) -> None:
    assert f"{binascii.crc_hqx(payload[:-4].encode(), 0xFFFF):04X}" == payload[-4:]


def test_encodes_the_bacen_static_example_exactly() -> None:
    p = StaticPix(
        key="123e4567-e12b-12d1-a456-426655440000", merchant_name="Fulano de Tal", merchant_city="BRASILIA"
    )
    assert encode_static(p) == BACEN_STATIC


def test_encodes_the_bacen_dynamic_example_exactly() -> None:
    p = DynamicPix(
        location="pix.example.com/8b3da2f39a4140d1a91abd93113bd441",
        merchant_name="Fulano de Tal",
        merchant_city="BRASILIA",
    )
    assert encode_dynamic(p) == BACEN_DYNAMIC


def test_parses_the_bacen_static_example() -> None:
    parsed = parse_brcode(BACEN_STATIC)
    assert parsed.key == "123e4567-e12b-12d1-a456-426655440000"
    assert parsed.url is None and not parsed.is_dynamic and not parsed.unique_use
    assert (parsed.merchant_name, parsed.merchant_city) == ("Fulano de Tal", "BRASILIA")
    assert (parsed.merchant_category_code, parsed.currency, parsed.country) == ("0000", "986", "BR")
    assert parsed.amount is None and parsed.txid == "***" and parsed.crc == "1D3D"
    assert parsed.fields["26"] == {"00": "br.gov.bcb.pix", "01": "123e4567-e12b-12d1-a456-426655440000"}
    assert parsed.fields["62"] == {"05": "***"}


def test_parses_the_bacen_dynamic_example() -> None:
    parsed = parse_brcode(BACEN_DYNAMIC)
    assert parsed.is_dynamic and parsed.unique_use
    assert parsed.url == "pix.example.com/8b3da2f39a4140d1a91abd93113bd441" and parsed.key is None


@pytest.mark.parametrize(
    "payload, url, name, amount",
    [
        (EFI_DYNAMIC, "qrcodespix.sejaefi.com.br/v2/b3e136a97ea346f1a1747ca934d2e7a0", "EFISA", None),
        (SICREDI_DYNAMIC, "pixqrcode.sicredi.com.br/qr/v2/f9b0c2d2494249138f97c40dbde6bba8", "PIX", None),
        (
            PAGSEGURO_DYNAMIC,
            "api.pagseguro.com/pix/v2/8D7D27E8-7167-4289-A1A7-90A18A26C126",
            "JUSTUTOR EDUCACAO LTDA",
            Decimal("1.00"),
        ),
    ],
)
def test_parses_psp_payloads(payload: str, url: str, name: str, amount: Decimal | None) -> None:
    parsed = parse_brcode(payload)
    assert (parsed.url, parsed.merchant_name, parsed.amount) == (url, name, amount)


def test_keeps_other_merchant_account_templates() -> None:
    parsed = parse_brcode(PAGSEGURO_DYNAMIC)
    assert parsed.fields["27"] == {"00": "BR.COM.PAGSEGURO", "01": "8D7D27E8-7167-4289-A1A7-90A18A26C126"}
    assert parsed.merchant_category_code == "8299"


# -- encoder -------------------------------------------------------------------------------------


def test_encodes_every_optional_field_in_manual_order() -> None:
    p = StaticPix(
        key="+55 (61) 99999-9999",
        merchant_name="Distribuidora São Jorge",
        merchant_city="Brasília",
        amount=Decimal("1234.5"),
        txid="NEGOCIA0001P01",
        description="Acordo 123 parcela 1",
        postal_code="70070-000",
    )
    expected = with_crc(
        "000201"
        "2660" + "0014br.gov.bcb.pix" + "0114+5561999999999" + "0220Acordo 123 parcela 1"
        "52040000"
        "5303986"
        "54071234.50"
        "5802BR"
        "5923Distribuidora Sao Jorge"
        "6008Brasilia"
        "610870070000"
        "6218" + "0514NEGOCIA0001P01"
    )
    assert encode_static(p) == expected


def test_normalises_text_fields() -> None:
    p = StaticPix(key=VALID_CPF, merchant_name="  Padaria   Conceição ", merchant_city="São Paulo")
    assert (p.merchant_name, p.merchant_city) == ("Padaria Conceicao", "Sao Paulo")


@pytest.mark.parametrize(
    "kwargs, reason",
    [
        ({"merchant_name": "A" * 26}, "máximo 25"),
        ({"merchant_city": "Sao Jose dos Campos"}, "máximo 15"),
        ({"merchant_name": "   "}, "vazio"),
        ({"merchant_name": "北京贸易"}, "somente ASCII"),
        ({"merchant_city": "Zürich ß"}, "somente ASCII"),
        ({"amount": Decimal("0")}, "positivo"),
        ({"amount": Decimal("-1.00")}, "positivo"),
        ({"amount": Decimal("10.005")}, "duas casas"),
        ({"amount": Decimal("10000000000.00")}, "grande demais"),
        ({"amount": Decimal("NaN")}, "positivo"),
        ({"amount": Decimal("1E+40")}, "grande demais"),
        ({"amount": 10.5}, "Decimal"),
        ({"txid": "ABC-123"}, "1 a 25"),
        ({"txid": "A" * 26}, "1 a 25"),
        ({"txid": ""}, "1 a 25"),
        ({"postal_code": "7007000"}, "8 dígitos"),
        ({"description": "x" * 70}, "descrição longa demais"),
        ({"key": "not a key"}, "não reconhecida"),
    ],
)
def test_static_rejects_with_reason(kwargs: dict[str, object], reason: str) -> None:
    args: dict[str, object] = {
        "key": VALID_CPF,
        "merchant_name": "Fulano",
        "merchant_city": "BRASILIA",
        **kwargs,
    }
    with pytest.raises(InvalidPixData, match=reason):
        StaticPix(**args)  # type: ignore[arg-type]


def test_fit_pix_text_cuts_long_legal_names() -> None:
    assert fit_pix_text("Comércio de Alimentos Bom Preço Ltda", 25) == "Comercio de Alimentos Bom"
    assert fit_pix_text("Distribuidora São Jorge e Filhos", 25) == "Distribuidora Sao Jorge e"


@pytest.mark.parametrize(
    "raw, key",
    [
        ("529.982.247-25", VALID_CPF),
        (VALID_CNPJ, VALID_CNPJ),
        ("12.345.678/0001-95", VALID_CNPJ),
        ("12ABC34501DE35", "12ABC34501DE35"),
        ("Cobranca@Empresa.com.br", "cobranca@empresa.com.br"),
        ("+55 11 98765-4321", "+5511987654321"),
        ("+551133334444", "+551133334444"),
        ("123E4567-E12B-12D1-A456-426655440000", "123e4567-e12b-12d1-a456-426655440000"),
    ],
)
def test_normalize_pix_key(raw: str, key: str) -> None:
    assert normalize_pix_key(raw) == key


@pytest.mark.parametrize(
    "raw, reason",
    [
        ("", "vazia"),
        ("52998224724", "não reconhecida"),  # wrong CPF check digit
        ("11111111111", "não reconhecida"),
        ("12345678000196", "não reconhecida"),
        ("+1 555 123 4567", "telefone"),
        ("+55 11 1234", "telefone"),
        ("fulano@", "e-mail"),
        ("a" * 70 + "@example.com", "e-mail"),
    ],
)
def test_normalize_pix_key_rejects(raw: str, reason: str) -> None:
    with pytest.raises(InvalidPixData, match=reason):
        normalize_pix_key(raw)


def test_dynamic_location_drops_https_and_rejects_http() -> None:
    p = DynamicPix("https://pix.example.com/qr/v2/abc", "Fulano", "BRASILIA")
    assert p.location == "pix.example.com/qr/v2/abc"
    with pytest.raises(InvalidPixData, match="HTTPS"):
        DynamicPix("http://pix.example.com/qr/v2/abc", "Fulano", "BRASILIA")
    with pytest.raises(InvalidPixData, match="máximo 77"):
        DynamicPix("pix.example.com/" + "a" * 70, "Fulano", "BRASILIA")
    with pytest.raises(InvalidPixData, match="inválida"):
        DynamicPix("pix.example.com/a b", "Fulano", "BRASILIA")


# -- parser: bad input ---------------------------------------------------------------------------

GOOD_BODY = (
    "000201",
    "26330014br.gov.bcb.pix0111" + VALID_CPF,
    "52040000",
    "5303986",
    "5802BR",
    "5906Fulano",
    "6008BRASILIA",
    "62070503***",
)


def body_with(**changes: str) -> str:
    """GOOD_BODY with fields replaced (by 2-digit ID as 'f26') or removed (empty string)."""
    parts = []
    for part in GOOD_BODY:
        key = f"f{part[:2]}"
        if key in changes:
            if changes[key]:
                parts.append(changes[key])
        else:
            parts.append(part)
    return "".join(parts)


def test_good_body_parses() -> None:
    parsed = parse_brcode(with_crc(body_with()))
    assert parsed.key == VALID_CPF and parsed.amount is None


@pytest.mark.parametrize(
    "payload, reason",
    [
        ("", "vazio"),
        (BACEN_STATIC[:-1] + "E", "CRC não confere"),
        (BACEN_STATIC.replace("Fulano", "Fulana"), "CRC não confere"),
        (BACEN_STATIC[:-8], "terminar com o campo 63"),
        (BACEN_STATIC[:-4] + "XYZW", "terminar com o campo 63"),
        (with_crc(body_with(f53="5303840")), "campo 53 deve ser '986'"),
        (with_crc(body_with(f58="5802US")), "campo 58 deve ser 'BR'"),
        (with_crc(body_with(f00="000202")), "campo 00 deve ser '01'"),
        (with_crc(body_with(f59="")), "ausentes: 59"),
        (with_crc(body_with(f52="", f60="")), "ausentes: 52, 60"),
        (with_crc(body_with(f52="5204ABCD")), "4 dígitos"),
        (with_crc(body_with(f26="26330014br.gov.bcb.xyz0111" + VALID_CPF)), "GUI br.gov.bcb.pix"),
        (with_crc(body_with(f26="26180014br.gov.bcb.pix")), "exatamente um"),
        (
            with_crc(body_with(f26="26520014br.gov.bcb.pix0111" + VALID_CPF + "2515pix.example.com")),
            "exatamente um",
        ),
        (with_crc(body_with(f59="5926" + "A" * 26)), "mais de 25"),
        (with_crc(body_with(f60="6016" + "B" * 16)), "mais de 15"),
        (with_crc(body_with(f62="62110507ABC-123")), "1 a 25"),
        (with_crc(body_with(f62="62070503***" + "5404" + "1,00")), "campo 54"),
        (with_crc(body_with(f62="62070503***" + "54050.000")), "campo 54"),
        (with_crc(body_with(f62="62070503***" + "54040.00")), "positivo"),
        (with_crc(body_with(f62="62070503***" + "010213")), "11 ou 12"),
        (with_crc(body_with(f62="62070503***" + "5802BR")), "repetido"),
        (with_crc(body_with(f60="6009BRASILIA")), "truncado"),
        (with_crc(body_with(f60="6000")), "tamanho zero"),
        (with_crc(body_with(f60="60xxBRASILIA")), "cabeçalho"),
        (with_crc(body_with(f00="") + "000201"), "primeiro campo"),
    ],
)
def test_parser_rejects_with_reason(payload: str, reason: str) -> None:
    with pytest.raises(InvalidBRCode, match=reason):
        parse_brcode(payload)


def test_parser_rejects_non_text() -> None:
    with pytest.raises(InvalidBRCode, match="texto"):
        parse_brcode(b"000201")  # type: ignore[arg-type]


def test_parser_requires_crc_last() -> None:
    # The trailing "6304" + CRC sits inside template 62, so the last top-level field is 62.
    body = body_with(f62="") + "6216" + "0504ABCD" + "6304"
    with pytest.raises(InvalidBRCode, match="último campo deve ser o 63"):
        parse_brcode(body + crc16(body))


def test_parser_tolerates_surrounding_whitespace_and_lowercase_crc() -> None:
    assert parse_brcode(f"  {BACEN_STATIC}\n").crc == "1D3D"
    assert parse_brcode(BACEN_STATIC[:-4] + "1d3d").key is not None


# -- properties ----------------------------------------------------------------------------------

ACCENTED = "áàâãéêíóôõúçÁÀÂÃÉÊÍÓÔÕÚÇ"
TEXT_ALPHABET = string.ascii_letters + string.digits + " .,-&/'" + ACCENTED


@st.composite
def cpfs(draw: st.DrawFn) -> str:
    first9 = draw(st.text("0123456789", min_size=9, max_size=9))
    value = first9 + _cpf_digits(first9)
    assume(is_valid_cpf(value))
    return value


def _cpf_digits(first9: str) -> str:
    digits = [int(c) for c in first9]
    for _ in range(2):
        total = sum(d * w for d, w in zip(digits, range(len(digits) + 1, 1, -1), strict=True))
        digits.append(0 if total % 11 < 2 else 11 - total % 11)
    return f"{digits[9]}{digits[10]}"


@st.composite
def cnpjs(draw: st.DrawFn) -> str:
    first12 = draw(st.text("0123456789", min_size=12, max_size=12))
    assume(len(set(first12)) > 1)
    return first12 + check_digits(first12)


keys = st.one_of(
    cpfs(),
    cnpjs(),
    st.uuids().map(str),
    st.from_regex(r"\+55[1-9][0-9]{9,10}", fullmatch=True),
    st.from_regex(r"[a-z0-9._]{1,20}@[a-z0-9]{1,10}\.com\.br", fullmatch=True),
)
names = st.text(TEXT_ALPHABET, min_size=1, max_size=25).filter(lambda s: s.strip() != "")
cities = st.text(TEXT_ALPHABET, min_size=1, max_size=15).filter(lambda s: s.strip() != "")
amounts = st.none() | st.decimals(
    min_value=Decimal("0.01"),
    max_value=Decimal("9999999999.99"),
    places=2,
    allow_nan=False,
    allow_infinity=False,
)
txids = st.just("***") | st.from_regex(r"[A-Za-z0-9]{1,25}", fullmatch=True)
descriptions = st.none() | st.text(
    string.ascii_letters + string.digits + " -", min_size=1, max_size=30
).filter(lambda s: s.strip() != "")
postal_codes = st.none() | st.from_regex(r"[0-9]{8}", fullmatch=True)


@st.composite
def static_codes(draw: st.DrawFn) -> StaticPix:
    return StaticPix(
        key=draw(keys),
        merchant_name=draw(names),
        merchant_city=draw(cities),
        amount=draw(amounts),
        txid=draw(txids),
        description=draw(descriptions),
        postal_code=draw(postal_codes),
    )


@given(static_codes())
def test_static_round_trip(p: StaticPix) -> None:
    parsed = parse_brcode(encode_static(p))
    assert parsed.key == p.key
    assert (parsed.merchant_name, parsed.merchant_city) == (p.merchant_name, p.merchant_city)
    assert parsed.amount == p.amount
    assert parsed.txid == p.txid
    assert parsed.description == p.description
    assert parsed.postal_code == p.postal_code
    assert parsed.url is None


@given(static_codes())
def test_static_payload_structure(p: StaticPix) -> None:
    payload = encode_static(p)
    assert payload.isascii() and payload.isprintable()
    assert crc16(payload[:-4]) == payload[-4:]
    top = walk_tlv(payload)
    tags = list(top)
    assert tags[0] == "00" and tags[-1] == "63"
    assert walk_tlv(top["26"])["00"] == "br.gov.bcb.pix"
    assert walk_tlv(top["62"])["05"] == p.txid
    assert len(top["59"]) <= 25 and len(top["60"]) <= 15


@given(static_codes(), st.data())
def test_any_single_character_change_is_rejected(p: StaticPix, data: st.DataObject) -> None:
    payload = encode_static(p)
    pos = data.draw(st.integers(0, len(payload) - 1))
    new = data.draw(st.sampled_from(string.printable.strip()))
    assume(new != payload[pos])
    if pos >= len(payload) - 4:
        assume(new.upper() != payload[pos].upper())  # the CRC's hex digits are read case-insensitively
    with pytest.raises(InvalidBRCode):
        parse_brcode(payload[:pos] + new + payload[pos + 1 :])


@given(
    st.from_regex(r"[a-z0-9.-]{1,20}\.com\.br/qr/v2/cobv/[0-9a-f]{32}", fullmatch=True),
    names,
    cities,
)
def test_dynamic_round_trip(location: str, name: str, city: str) -> None:
    p = DynamicPix(location, name, city)
    payload = encode_dynamic(p)
    parsed = parse_brcode(payload)
    assert (parsed.url, parsed.key, parsed.txid) == (location, None, "***")
    assert parsed.unique_use and parsed.is_dynamic
    assert (parsed.merchant_name, parsed.merchant_city) == (p.merchant_name, p.merchant_city)
    assert crc16(payload[:-4]) == payload[-4:]
    walk_tlv(walk_tlv(payload)["26"])
