import base64
import hashlib
import hmac
from urllib.parse import parse_qs, urlsplit

import pytest

from server.domain.signed_links import BadSignature, LinkExpired, sign_path, signed_url, verify

SECRET = b"test-secret-0123456789"
PATH = "/public/agreements/42/term.pdf"
NOW = 1_780_000_000


def _query(query: str) -> tuple[str, str]:
    values = parse_qs(query, strict_parsing=True)
    return values["exp"][0], values["sig"][0]


def test_valid_link_verifies() -> None:
    exp, sig = _query(sign_path(PATH, NOW + 3600, SECRET))
    assert exp == str(NOW + 3600)
    verify(PATH, exp, sig, SECRET, now=NOW)
    verify(PATH, exp, sig, SECRET, now=NOW + 3599)


def test_signature_is_unpadded_urlsafe_hmac_of_path_and_expiry() -> None:
    _exp, sig = _query(sign_path(PATH, NOW, SECRET))
    digest = hmac.new(SECRET, f"{PATH}\n{NOW}".encode(), hashlib.sha256).digest()
    assert sig == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert "=" not in sig and "+" not in sig and "/" not in sig


def test_expired_link_is_refused() -> None:
    exp, sig = _query(sign_path(PATH, NOW + 60, SECRET))
    with pytest.raises(LinkExpired):
        verify(PATH, exp, sig, SECRET, now=NOW + 60)
    with pytest.raises(LinkExpired):
        verify(PATH, exp, sig, SECRET, now=NOW + 86_400)


def test_tampered_path_is_refused() -> None:
    exp, sig = _query(sign_path(PATH, NOW + 3600, SECRET))
    with pytest.raises(BadSignature):
        verify("/public/agreements/43/term.pdf", exp, sig, SECRET, now=NOW)


@pytest.mark.parametrize("exp", [str(NOW + 7200), f"0{NOW + 3600}", f"+{NOW + 3600}", "", "abc", "١٢٣"])
def test_tampered_expiry_is_refused(exp: str) -> None:
    _, sig = _query(sign_path(PATH, NOW + 3600, SECRET))
    with pytest.raises(BadSignature):
        verify(PATH, exp, sig, SECRET, now=NOW)


def test_wrong_secret_is_refused() -> None:
    exp, sig = _query(sign_path(PATH, NOW + 3600, SECRET))
    with pytest.raises(BadSignature):
        verify(PATH, exp, sig, b"another-secret", now=NOW)


@pytest.mark.parametrize("sig", ["", "x", "ção"])
def test_malformed_signature_is_refused(sig: str) -> None:
    with pytest.raises(BadSignature):
        verify(PATH, str(NOW + 3600), sig, SECRET, now=NOW)


def test_forged_link_reports_bad_signature_even_when_expired() -> None:
    with pytest.raises(BadSignature):
        verify(PATH, str(NOW - 10), "forged", SECRET, now=NOW)


def test_signed_url_joins_base_path_and_query() -> None:
    url = signed_url("https://negocia.example.com.br/", PATH, 900, SECRET, NOW)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"https://negocia.example.com.br{PATH}"
    exp, sig = _query(parts.query)
    assert exp == str(NOW + 900)
    verify(parts.path, exp, sig, SECRET, now=NOW + 899)
    with pytest.raises(LinkExpired):
        verify(parts.path, exp, sig, SECRET, now=NOW + 900)


def test_empty_secret_and_relative_path_are_rejected() -> None:
    with pytest.raises(ValueError):
        sign_path(PATH, NOW, b"")
    with pytest.raises(ValueError):
        signed_url("https://x", "relative", 60, SECRET, NOW)
