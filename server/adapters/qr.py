"""QR code images of PIX payloads (segno), PNG for messaging apps and SVG for the web."""

from __future__ import annotations

import io

import segno

BORDER = 4  # the quiet zone the QR spec requires; scanners struggle without it
ERROR_CORRECTION = "m"


def qr_code(payload: str) -> segno.QRCode:
    """The QR symbol (error correction M); too long a payload raises segno's DataOverflowError."""
    if not payload:
        raise ValueError("QR code payload is empty")
    return segno.make_qr(payload, error=ERROR_CORRECTION, boost_error=False)


def qr_png(payload: str, scale: int = 6) -> bytes:
    if scale < 1:
        raise ValueError(f"QR scale must be at least 1, got {scale}")
    out = io.BytesIO()
    qr_code(payload).save(out, kind="png", scale=scale, border=BORDER)
    return out.getvalue()


def qr_svg(payload: str, scale: int = 6) -> str:
    if scale < 1:
        raise ValueError(f"QR scale must be at least 1, got {scale}")
    out = io.BytesIO()
    qr_code(payload).save(out, kind="svg", scale=scale, border=BORDER, xmldecl=False, svgns=True)
    return out.getvalue().decode("utf-8")
