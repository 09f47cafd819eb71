"""Signed, expiring links to an agreement's term PDF (WhatsApp fetches media by URL)."""

from __future__ import annotations

from server.container import Container
from server.domain.signed_links import signed_url


def term_path(agreement_id: str) -> str:
    return f"/public/agreements/{agreement_id}/term.pdf"


def term_url(container: Container, agreement_id: str) -> str:
    settings = container.settings
    base = settings.public_base_url or settings.server_url
    return signed_url(
        base,
        term_path(agreement_id),
        settings.public_link_ttl_hours * 3600,
        settings.secret_key.get_secret_value().encode(),
        int(container.clock.now().timestamp()),
    )
