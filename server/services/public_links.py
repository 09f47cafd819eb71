"""Signed, expiring links for debtors: the term PDF and PIX QR images (WhatsApp fetches media by
URL, and debtors have no login)."""

from __future__ import annotations

from server.container import Container
from server.domain.signed_links import signed_url, verify


def term_path(agreement_id: str) -> str:
    return f"/public/agreements/{agreement_id}/term.pdf"


def qr_path(agreement_id: str, number: int) -> str:
    return f"/public/agreements/{agreement_id}/installments/{number}/qr.png"


def _secret(container: Container) -> bytes:
    return container.settings.secret_key.get_secret_value().encode()


def public_url(container: Container, path: str) -> str:
    settings = container.settings
    return signed_url(
        settings.public_base_url or settings.server_url,
        path,
        settings.public_link_ttl_hours * 3600,
        _secret(container),
        int(container.clock.now().timestamp()),
    )


def term_url(container: Container, agreement_id: str) -> str:
    return public_url(container, term_path(agreement_id))


def qr_url(container: Container, agreement_id: str, number: int) -> str:
    return public_url(container, qr_path(agreement_id, number))


def check_link(container: Container, path: str, exp: str, sig: str) -> None:
    """Raises LinkExpired or BadSignature."""
    verify(path, exp, sig, _secret(container), int(container.clock.now().timestamp()))
