"""CNPJ parsing and validation, numeric and the alphanumeric format in force from July 2026.

The alphanumeric CNPJ keeps the layout (8-char root, 4-char branch, 2 check digits); the first
12 characters may be 0-9 or A-Z and every character is valued as ``ord(c) - 48`` in the
module-11 check, which gives the numeric CNPJ the same digits it always had.
"""

from __future__ import annotations

import re

CNPJ_LENGTH = 14
ROOT_LENGTH = 8
_WEIGHTS_1 = (5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)
_WEIGHTS_2 = (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)
_PUNCTUATION = re.compile(r"[.\-/\s]")
_BODY = re.compile(r"^[0-9A-Z]{12}[0-9]{2}$")
_ROOT = re.compile(r"^[0-9A-Z]{8}$")


class InvalidCNPJ(ValueError):
    """Raised with a human-readable reason (in Portuguese, shown in import reports)."""


def _strip(raw: str) -> str:
    return _PUNCTUATION.sub("", raw.strip()).upper()


def _check_digit(chars: str, weights: tuple[int, ...]) -> int:
    total = sum((ord(c) - 48) * w for c, w in zip(chars, weights, strict=True))
    remainder = total % 11
    return 0 if remainder < 2 else 11 - remainder


def check_digits(first12: str) -> str:
    d1 = _check_digit(first12, _WEIGHTS_1)
    d2 = _check_digit(first12 + str(d1), _WEIGHTS_2)
    return f"{d1}{d2}"


def normalize_cnpj(raw: str) -> str:
    """Return the 14-character CNPJ without punctuation, or raise InvalidCNPJ."""
    value = _strip(raw)
    if value.isdigit() and len(value) < CNPJ_LENGTH and len(value) >= 12:
        # ERPs exporting to spreadsheets drop leading zeros.
        value = value.zfill(CNPJ_LENGTH)
    if len(value) != CNPJ_LENGTH:
        raise InvalidCNPJ(f"CNPJ deve ter 14 caracteres (tem {len(value)})")
    if not _BODY.match(value):
        raise InvalidCNPJ("CNPJ com caracteres inválidos")
    if len(set(value)) == 1:
        raise InvalidCNPJ("CNPJ inválido")
    if check_digits(value[:12]) != value[12:]:
        raise InvalidCNPJ("dígitos verificadores do CNPJ não conferem")
    return value


def is_valid_cnpj(raw: str) -> bool:
    try:
        normalize_cnpj(raw)
    except InvalidCNPJ:
        return False
    return True


def format_cnpj(value: str) -> str:
    v = normalize_cnpj(value)
    return f"{v[:2]}.{v[2:5]}.{v[5:8]}/{v[8:12]}-{v[12:]}"


def root_of(value: str) -> str:
    return normalize_cnpj(value)[:ROOT_LENGTH]


def parse_root(raw: str) -> str | None:
    """Extract a CNPJ root from what a person typed: a root ("12.345.678") or a full CNPJ.

    Returns None when the text holds neither (not a verification failure: just not an answer).
    """
    value = _strip(raw)
    if len(value) == CNPJ_LENGTH and is_valid_cnpj(value):
        return value[:ROOT_LENGTH]
    if _ROOT.match(value) and any(c.isdigit() for c in value):
        return value
    # Roots or CNPJs inside a sentence ("o cnpj é 12.345.678/0001-90").
    for token in re.findall(r"[0-9A-Za-z][0-9A-Za-z.\-/]{7,20}", raw):
        candidate = _strip(token)
        if len(candidate) == CNPJ_LENGTH and is_valid_cnpj(candidate):
            return candidate[:ROOT_LENGTH]
        if _ROOT.match(candidate) and sum(c.isdigit() for c in candidate) >= 2:
            return candidate
    return None
