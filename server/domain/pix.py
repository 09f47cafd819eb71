"""PIX BR Code ("copia e cola"): EMV MPM encoder and parser (pure, no I/O).

Layout per Banco Central's "Manual de Padrões para Iniciação do Pix": a flat list of TLV fields
(2-digit ID, 2-digit length in characters, value), with the merchant account (26) and the
additional data (62) as nested templates, ending in the CRC16/CCITT-FALSE of everything before
its 4 hex digits (the "6304" prefix included).
"""

from __future__ import annotations

import binascii
import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from server.domain.cnpj import is_valid_cnpj

PIX_GUI = "br.gov.bcb.pix"
PAYLOAD_FORMAT = "01"
UNIQUE_USE = "12"
REUSABLE = "11"
MCC_UNSPECIFIED = "0000"
CURRENCY_BRL = "986"
COUNTRY_BR = "BR"
NO_TXID = "***"

MAX_MERCHANT_NAME = 25
MAX_MERCHANT_CITY = 15
MAX_AMOUNT_CHARS = 13
MAX_URL = 77
MAX_EMAIL_KEY = 77
MAX_FIELD = 99

ID_FORMAT = "00"
ID_INITIATION = "01"
ID_MERCHANT_ACCOUNT = "26"
ID_MCC = "52"
ID_CURRENCY = "53"
ID_AMOUNT = "54"
ID_COUNTRY = "58"
ID_NAME = "59"
ID_CITY = "60"
ID_POSTAL_CODE = "61"
ID_ADDITIONAL = "62"
ID_CRC = "63"
# Inside template 26.
SUB_GUI = "00"
SUB_KEY = "01"
SUB_DESCRIPTION = "02"
SUB_URL = "25"
# Inside template 62.
SUB_TXID = "05"

# EMV MPM: 26-51 are merchant account templates; 62, 64 and 80-99 are templates too.
_TEMPLATE_IDS = frozenset({*(str(i) for i in range(26, 52)), "62", "64", *(str(i) for i in range(80, 100))})
_MANDATORY = (ID_FORMAT, ID_MCC, ID_CURRENCY, ID_COUNTRY, ID_NAME, ID_CITY, ID_CRC)

_STATIC_TXID = re.compile(r"[A-Za-z0-9]{1,25}")
_EVP = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_EMAIL = re.compile(r"[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9-]+)+")
_PHONE = re.compile(r"\+55[1-9][0-9]{9,10}")
_PHONE_PUNCTUATION = re.compile(r"[\s()\-.]")
_DOCUMENT_PUNCTUATION = re.compile(r"[\s.\-/]")
_AMOUNT = re.compile(r"[0-9]+(?:\.[0-9]{1,2})?")
_CRC_HEX = re.compile(r"[0-9A-Fa-f]{4}")
_URL_CHARS = re.compile(r"[!-~]+")  # printable ASCII without spaces
_POSTAL_CODE = re.compile(r"[0-9]{8}")
_CENT = Decimal("0.01")
_AMOUNT_LIMIT = Decimal(10) ** (MAX_AMOUNT_CHARS - 3)  # "9999999999.99" is 13 characters


class PixError(ValueError):
    """Base of the PIX errors; the message is a reason a person can act on."""


class InvalidPixData(PixError):
    """A field given to the encoder does not fit the BR Code rules."""


class InvalidBRCode(PixError):
    """A payload that is not a valid PIX BR Code."""


def crc16(data: str) -> str:
    """CRC16/CCITT-FALSE (poly 0x1021, init 0xFFFF) as 4 uppercase hex digits."""
    return f"{binascii.crc_hqx(data.encode('utf-8'), 0xFFFF):04X}"


# ---------------------------------------------------------------------------------------------
# Field normalisation and validation
# ---------------------------------------------------------------------------------------------


def to_pix_text(value: str) -> str:
    """Accents stripped, whitespace collapsed; the result must be printable ASCII."""
    decomposed = unicodedata.normalize("NFKD", value)
    text = "".join(c for c in decomposed if not unicodedata.combining(c))
    text = " ".join(text.split())
    if any(not (" " <= c <= "~") for c in text):
        raise InvalidPixData(f"caracteres não permitidos (somente ASCII): {value!r}")
    return text


def fit_pix_text(value: str, limit: int) -> str:
    """``to_pix_text`` cut to ``limit`` characters, for long legal names that must still fit."""
    return to_pix_text(value)[:limit].rstrip()


def _text_field(value: str, limit: int, label: str) -> str:
    text = to_pix_text(value)
    if not text:
        raise InvalidPixData(f"{label} vazio")
    if len(text) > limit:
        raise InvalidPixData(f"{label} tem {len(text)} caracteres (máximo {limit}): {text!r}")
    return text


def _cpf_check_digits(first9: str) -> str:
    digits = [int(c) for c in first9]
    for _ in range(2):
        weight = len(digits) + 1
        total = sum(d * (weight - i) for i, d in enumerate(digits))
        remainder = total % 11
        digits.append(0 if remainder < 2 else 11 - remainder)
    return f"{digits[-2]}{digits[-1]}"


def is_valid_cpf(value: str) -> bool:
    if len(value) != 11 or not value.isdigit() or len(set(value)) == 1:
        return False
    return _cpf_check_digits(value[:9]) == value[9:]


def normalize_pix_key(raw: str) -> str:
    """The canonical form of a PIX key (CPF, CNPJ, e-mail, +55 phone or random EVP) or raise."""
    value = raw.strip()
    if not value:
        raise InvalidPixData("chave PIX vazia")
    if _EVP.fullmatch(value.lower()):
        return value.lower()
    if "@" in value:
        email = value.lower()
        if len(email) > MAX_EMAIL_KEY or not _EMAIL.fullmatch(email):
            raise InvalidPixData(f"chave PIX de e-mail inválida: {value!r}")
        return email
    if value.startswith("+"):
        phone = _PHONE_PUNCTUATION.sub("", value)
        if not _PHONE.fullmatch(phone):
            raise InvalidPixData(f"chave PIX de telefone inválida (formato +55DDNNNNNNNNN): {value!r}")
        return phone
    document = _DOCUMENT_PUNCTUATION.sub("", value).upper()
    if len(document) == 11 and is_valid_cpf(document):
        return document
    if len(document) == 14 and is_valid_cnpj(document):
        return document
    raise InvalidPixData(f"chave PIX não reconhecida (CPF, CNPJ, e-mail, +55 telefone ou EVP): {value!r}")


def format_amount(amount: Decimal) -> str:
    """The field 54 text ("1234.56"), after checking the amount is a positive whole-cent Decimal."""
    if not isinstance(amount, Decimal):
        raise InvalidPixData(f"valor deve ser Decimal, não {type(amount).__name__}")
    if not amount.is_finite() or amount <= 0:
        raise InvalidPixData(f"valor deve ser positivo: {amount}")
    if amount >= _AMOUNT_LIMIT:
        raise InvalidPixData(
            f"valor grande demais para o BR Code (máximo {MAX_AMOUNT_CHARS} caracteres): {amount}"
        )
    if amount != amount.quantize(_CENT):
        raise InvalidPixData(f"valor com mais de duas casas decimais: {amount}")
    return f"{amount.quantize(_CENT)}"


def _postal_code(raw: str) -> str:
    code = raw.replace("-", "").replace(".", "").strip()
    if not _POSTAL_CODE.fullmatch(code):
        raise InvalidPixData(f"CEP deve ter 8 dígitos: {raw!r}")
    return code


def _location(raw: str) -> str:
    value = raw.strip()
    if value.lower().startswith("http://"):
        raise InvalidPixData("URL de location deve ser HTTPS")
    if value.lower().startswith("https://"):
        # The BR Code carries the location without its scheme; HTTPS is implied.
        value = value[len("https://") :]
    if not value or not _URL_CHARS.fullmatch(value):
        raise InvalidPixData(f"URL de location inválida: {raw!r}")
    if len(value) > MAX_URL:
        raise InvalidPixData(f"URL de location tem {len(value)} caracteres (máximo {MAX_URL})")
    return value


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StaticPix:
    """A static code: a PIX key, optionally with an amount, a txid and a description.

    Text fields are normalised on creation (accents stripped), so the stored values are the
    ones that go into the payload.
    """

    key: str
    merchant_name: str
    merchant_city: str
    amount: Decimal | None = None
    txid: str = NO_TXID
    description: str | None = None
    postal_code: str | None = None

    def __post_init__(self) -> None:
        _set(self, "key", normalize_pix_key(self.key))
        _set(self, "merchant_name", _text_field(self.merchant_name, MAX_MERCHANT_NAME, "nome do recebedor"))
        _set(self, "merchant_city", _text_field(self.merchant_city, MAX_MERCHANT_CITY, "cidade do recebedor"))
        if self.amount is not None:
            format_amount(self.amount)
            _set(self, "amount", self.amount.quantize(_CENT))
        if self.txid != NO_TXID and not _STATIC_TXID.fullmatch(self.txid):
            raise InvalidPixData(f"txid deve ter de 1 a 25 letras ou dígitos: {self.txid!r}")
        if self.description is not None:
            _set(self, "description", _text_field(self.description, MAX_FIELD, "descrição"))
        if self.postal_code is not None:
            _set(self, "postal_code", _postal_code(self.postal_code))
        account = _merchant_account(self)
        if len(account) > MAX_FIELD:
            room = MAX_FIELD - (len(account) - len(self.description or ""))
            raise InvalidPixData(f"descrição longa demais para esta chave (máximo {max(room, 0)} caracteres)")


@dataclass(frozen=True)
class DynamicPix:
    """A dynamic code for a PSP charge (e.g. a ``cobv``): the location of its JSON payload."""

    location: str
    merchant_name: str
    merchant_city: str

    def __post_init__(self) -> None:
        _set(self, "location", _location(self.location))
        _set(self, "merchant_name", _text_field(self.merchant_name, MAX_MERCHANT_NAME, "nome do recebedor"))
        _set(self, "merchant_city", _text_field(self.merchant_city, MAX_MERCHANT_CITY, "cidade do recebedor"))


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


# ---------------------------------------------------------------------------------------------
# Encoder
# ---------------------------------------------------------------------------------------------


def _tlv(tag: str, value: str) -> str:
    if not 1 <= len(value) <= MAX_FIELD:
        raise InvalidPixData(f"campo {tag} com tamanho {len(value)} fora de 1..{MAX_FIELD}")
    return f"{tag}{len(value):02d}{value}"


def _merchant_account(p: StaticPix) -> str:
    account = _tlv(SUB_GUI, PIX_GUI) + f"{SUB_KEY}{len(p.key):02d}{p.key}"
    if p.description:
        account += f"{SUB_DESCRIPTION}{len(p.description):02d}{p.description}"
    return account


def _with_crc(body: str) -> str:
    body += ID_CRC + "04"
    return body + crc16(body)


def encode_static(p: StaticPix) -> str:
    parts = [
        _tlv(ID_FORMAT, PAYLOAD_FORMAT),
        _tlv(ID_MERCHANT_ACCOUNT, _merchant_account(p)),
        _tlv(ID_MCC, MCC_UNSPECIFIED),
        _tlv(ID_CURRENCY, CURRENCY_BRL),
    ]
    if p.amount is not None:
        parts.append(_tlv(ID_AMOUNT, format_amount(p.amount)))
    parts += [_tlv(ID_COUNTRY, COUNTRY_BR), _tlv(ID_NAME, p.merchant_name), _tlv(ID_CITY, p.merchant_city)]
    if p.postal_code:
        parts.append(_tlv(ID_POSTAL_CODE, p.postal_code))
    parts.append(_tlv(ID_ADDITIONAL, _tlv(SUB_TXID, p.txid)))
    return _with_crc("".join(parts))


def encode_dynamic(p: DynamicPix) -> str:
    account = _tlv(SUB_GUI, PIX_GUI) + _tlv(SUB_URL, p.location)
    parts = [
        _tlv(ID_FORMAT, PAYLOAD_FORMAT),
        _tlv(ID_INITIATION, UNIQUE_USE),
        _tlv(ID_MERCHANT_ACCOUNT, account),
        _tlv(ID_MCC, MCC_UNSPECIFIED),
        _tlv(ID_CURRENCY, CURRENCY_BRL),
        _tlv(ID_COUNTRY, COUNTRY_BR),
        _tlv(ID_NAME, p.merchant_name),
        _tlv(ID_CITY, p.merchant_city),
        # Dynamic codes carry the txid in the PSP's JSON payload, not here.
        _tlv(ID_ADDITIONAL, _tlv(SUB_TXID, NO_TXID)),
    ]
    return _with_crc("".join(parts))


# ---------------------------------------------------------------------------------------------
# Parser
# ---------------------------------------------------------------------------------------------

TLVTree = dict[str, str | dict[str, str]]


@dataclass(frozen=True)
class ParsedBRCode:
    """A validated BR Code; ``fields`` is the whole TLV tree (templates as nested dicts)."""

    payload_format: str
    point_of_initiation: str | None
    gui: str
    key: str | None
    url: str | None
    description: str | None
    merchant_category_code: str
    currency: str
    amount: Decimal | None
    country: str
    merchant_name: str
    merchant_city: str
    postal_code: str | None
    txid: str | None
    crc: str
    fields: TLVTree = field(repr=False)

    @property
    def is_dynamic(self) -> bool:
        return self.url is not None

    @property
    def unique_use(self) -> bool:
        return self.point_of_initiation == UNIQUE_USE


def parse_tlv(data: str, where: str = "payload") -> dict[str, str]:
    """Split a TLV sequence; lengths are checked, values stay text."""
    out: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        header = data[pos : pos + 4]
        if len(header) < 4 or not header.isdigit() or not header.isascii():
            raise InvalidBRCode(f"{where}: cabeçalho de campo inválido na posição {pos}: {header!r}")
        tag, length = header[:2], int(header[2:])
        if length == 0:
            raise InvalidBRCode(f"{where}: campo {tag} com tamanho zero")
        value = data[pos + 4 : pos + 4 + length]
        if len(value) != length:
            raise InvalidBRCode(
                f"{where}: campo {tag} declara {length} caracteres mas restam {len(value)} (payload truncado?)"
            )
        if tag in out:
            raise InvalidBRCode(f"{where}: campo {tag} repetido")
        out[tag] = value
        pos += 4 + length
    return out


def _tree(payload: str) -> TLVTree:
    tree: TLVTree = {}
    for tag, value in parse_tlv(payload).items():
        tree[tag] = parse_tlv(value, f"campo {tag}") if tag in _TEMPLATE_IDS else value
    return tree


def _check_crc(payload: str) -> None:
    if len(payload) < 8 or payload[-8:-4] != ID_CRC + "04" or not _CRC_HEX.fullmatch(payload[-4:]):
        raise InvalidBRCode("o BR Code deve terminar com o campo 63 (CRC) de 4 dígitos hexadecimais")
    expected = crc16(payload[:-4])
    if payload[-4:].upper() != expected:
        raise InvalidBRCode(f"CRC não confere: o payload traz {payload[-4:]}, o calculado é {expected}")


def _text(tree: TLVTree, tag: str) -> str | None:
    value = tree.get(tag)
    if isinstance(value, dict):
        raise InvalidBRCode(f"campo {tag} deveria ser um valor simples")
    return value


def _required(tree: TLVTree, tag: str) -> str:
    value = _text(tree, tag)
    if value is None:
        raise InvalidBRCode(f"campo obrigatório {tag} ausente")
    return value


def _pix_account(tree: TLVTree) -> dict[str, str]:
    for tag in sorted(t for t in tree if "26" <= t <= "51"):
        template = tree[tag]
        if isinstance(template, dict) and template.get(SUB_GUI, "").lower() == PIX_GUI:
            return template
    raise InvalidBRCode(f"nenhum modelo de conta com o GUI {PIX_GUI} (campos 26-51)")


def _parse_amount(text: str | None) -> Decimal | None:
    if text is None:
        return None
    if len(text) > MAX_AMOUNT_CHARS or not _AMOUNT.fullmatch(text):
        raise InvalidBRCode(f"valor (campo 54) inválido: {text!r}")
    try:
        amount = Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the regex already rules this out
        raise InvalidBRCode(f"valor (campo 54) inválido: {text!r}") from exc
    if amount <= 0:
        raise InvalidBRCode("valor (campo 54) deve ser positivo")
    return amount.quantize(_CENT)


def _check_fixed(tree: TLVTree) -> None:
    expected = {ID_FORMAT: PAYLOAD_FORMAT, ID_CURRENCY: CURRENCY_BRL, ID_COUNTRY: COUNTRY_BR}
    for tag, value in expected.items():
        if _required(tree, tag) != value:
            raise InvalidBRCode(f"campo {tag} deve ser {value!r}, veio {_text(tree, tag)!r}")
    mcc = _required(tree, ID_MCC)
    if len(mcc) != 4 or not mcc.isdigit():
        raise InvalidBRCode(f"categoria do recebedor (campo 52) deve ter 4 dígitos: {mcc!r}")
    initiation = _text(tree, ID_INITIATION)
    if initiation is not None and initiation not in (REUSABLE, UNIQUE_USE):
        raise InvalidBRCode(f"método de iniciação (campo 01) deve ser 11 ou 12: {initiation!r}")


def _check_limits(name: str, city: str) -> None:
    if len(name) > MAX_MERCHANT_NAME:
        raise InvalidBRCode(f"nome do recebedor (campo 59) com mais de {MAX_MERCHANT_NAME} caracteres")
    if len(city) > MAX_MERCHANT_CITY:
        raise InvalidBRCode(f"cidade do recebedor (campo 60) com mais de {MAX_MERCHANT_CITY} caracteres")


def _txid(tree: TLVTree) -> str | None:
    additional = tree.get(ID_ADDITIONAL)
    if additional is None:
        return None
    if not isinstance(additional, dict):  # pragma: no cover - 62 is always parsed as a template
        raise InvalidBRCode("campo 62 deveria ser um modelo")
    txid = additional.get(SUB_TXID)
    if txid is not None and txid != NO_TXID and not _STATIC_TXID.fullmatch(txid):
        raise InvalidBRCode(f"txid (campo 62-05) deve ter de 1 a 25 letras ou dígitos: {txid!r}")
    return txid


def parse_brcode(payload: str) -> ParsedBRCode:
    """Parse and validate a PIX "copia e cola" payload, or raise InvalidBRCode with the reason."""
    if not isinstance(payload, str):
        raise InvalidBRCode("o BR Code deve ser texto")
    payload = payload.strip()
    if not payload:
        raise InvalidBRCode("BR Code vazio")
    _check_crc(payload)
    tree = _tree(payload)
    if next(iter(tree)) != ID_FORMAT:
        raise InvalidBRCode("o primeiro campo deve ser o 00 (formato do payload)")
    if next(reversed(tree)) != ID_CRC:
        raise InvalidBRCode("o último campo deve ser o 63 (CRC)")
    missing = [tag for tag in _MANDATORY if tag not in tree]
    if missing:
        raise InvalidBRCode(f"campos obrigatórios ausentes: {', '.join(missing)}")
    _check_fixed(tree)
    account = _pix_account(tree)
    key, url = account.get(SUB_KEY), account.get(SUB_URL)
    if (key is None) == (url is None):
        raise InvalidBRCode("a conta PIX deve ter exatamente um de: chave (26-01) ou URL (26-25)")
    name, city = _required(tree, ID_NAME), _required(tree, ID_CITY)
    _check_limits(name, city)
    return ParsedBRCode(
        payload_format=_required(tree, ID_FORMAT),
        point_of_initiation=_text(tree, ID_INITIATION),
        gui=account[SUB_GUI],
        key=key,
        url=url,
        description=account.get(SUB_DESCRIPTION),
        merchant_category_code=_required(tree, ID_MCC),
        currency=_required(tree, ID_CURRENCY),
        amount=_parse_amount(_text(tree, ID_AMOUNT)),
        country=_required(tree, ID_COUNTRY),
        merchant_name=name,
        merchant_city=city,
        postal_code=_text(tree, ID_POSTAL_CODE),
        txid=_txid(tree),
        crc=payload[-4:].upper(),
        fields=tree,
    )
