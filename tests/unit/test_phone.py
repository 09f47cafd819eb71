import pytest

from server.domain.phone import InvalidPhone, match_key, normalize_phone


@pytest.mark.parametrize(
    "raw",
    [
        "(11) 98765-4321",
        "+55 11 98765-4321",
        "+5511987654321",
        "11987654321",
        "5511987654321",
        "011 98765-4321",
        "0 21 11 98765-4321",  # long-distance carrier code
        "whatsapp:+5511987654321",
        "11 9 8765 4321",
    ],
)
def test_common_writings_normalise_to_e164(raw: str) -> None:
    assert normalize_phone(raw) == "+5511987654321"


def test_landline() -> None:
    assert normalize_phone("(31) 3222-1100") == "+553132221100"


@pytest.mark.parametrize(
    "raw, reason",
    [
        ("", "caracteres"),
        ("abc", "caracteres"),
        ("+1 415 555 0100", "Brasil"),
        ("(10) 98765-4321", "DDD 10"),
        ("98765-4321", "DDD"),
        ("(11) 88765-43210", "DDD e 8 ou 9"),
        ("(11) 88765-4321", "começar com 9"),
    ],
)
def test_invalid_phones_say_why(raw: str, reason: str) -> None:
    with pytest.raises(InvalidPhone, match=reason):
        normalize_phone(raw)


def test_match_key_ignores_the_ninth_digit() -> None:
    # WhatsApp frequently reports Brazilian mobiles without the 9th digit.
    assert match_key("+5531991234567") == match_key("+553191234567") == "3191234567"
    assert match_key("+5531991234567") != match_key("+5532991234567")
