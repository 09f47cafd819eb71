"""Brazilian phone numbers: normalisation to E.164 and the matching key.

WhatsApp often drops (or adds) the ninth digit of mobile numbers, so contacts are matched on
DDD + the last 8 digits rather than on the full number.
"""

from __future__ import annotations

import re

# Area codes (DDD) in use in Brazil (Anatel).
VALID_DDDS = frozenset(
    {
        11,
        12,
        13,
        14,
        15,
        16,
        17,
        18,
        19,
        21,
        22,
        24,
        27,
        28,
        31,
        32,
        33,
        34,
        35,
        37,
        38,
        41,
        42,
        43,
        44,
        45,
        46,
        47,
        48,
        49,
        51,
        53,
        54,
        55,
        61,
        62,
        63,
        64,
        65,
        66,
        67,
        68,
        69,
        71,
        73,
        74,
        75,
        77,
        79,
        81,
        82,
        83,
        84,
        85,
        86,
        87,
        88,
        89,
        91,
        92,
        93,
        94,
        95,
        96,
        97,
        98,
        99,
    }
)
_NON_DIGITS = re.compile(r"\D")
_ALLOWED = re.compile(r"^[\d\s()+.\-]+$")


class InvalidPhone(ValueError):
    """Raised with a human-readable reason (Portuguese)."""


def normalize_phone(raw: str) -> str:
    """Return the E.164 form (+55DDDNNNNNNNN) of a Brazilian phone, or raise InvalidPhone."""
    text = raw.strip()
    if text.lower().startswith("whatsapp:"):
        text = text[len("whatsapp:") :]
    if not text or not _ALLOWED.match(text):
        raise InvalidPhone("telefone com caracteres inválidos")
    digits = _NON_DIGITS.sub("", text)
    if text.startswith("+"):
        if not digits.startswith("55"):
            raise InvalidPhone("apenas telefones do Brasil (+55) são aceitos")
        national = digits[2:]
    elif digits.startswith("0"):
        # Long-distance prefix: 0 + DDD, or 0 + carrier code (2 digits) + DDD.
        national = digits[1:]
        if len(national) in (12, 13):
            national = national[2:]
    elif digits.startswith("55") and len(digits) in (12, 13):
        national = digits[2:]
    else:
        national = digits
    if len(national) not in (10, 11):
        raise InvalidPhone("telefone deve ter DDD e 8 ou 9 dígitos")
    ddd = int(national[:2])
    if ddd not in VALID_DDDS:
        raise InvalidPhone(f"DDD {national[:2]} inexistente")
    number = national[2:]
    if len(number) == 9 and number[0] != "9":
        raise InvalidPhone("celular com 9 dígitos deve começar com 9")
    if number[0] == "0":
        raise InvalidPhone("número local não pode começar com 0")
    return f"+55{national}"


def match_key(e164_or_raw: str) -> str:
    """DDD + last 8 digits: the key contacts are matched on."""
    national = normalize_phone(e164_or_raw)[3:]
    return national[:2] + national[-8:]
