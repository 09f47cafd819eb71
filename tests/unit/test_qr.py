"""QR images: valid PNG/SVG whose modules are the QR symbol of the payload (error correction M).

No QR decoder is installed, so the images are checked against segno's own matrix for the
payload: the PNG is decoded here (stdlib zlib) and compared module by module.
"""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
import zlib

import pytest

from server.adapters.qr import BORDER, qr_code, qr_png, qr_svg

PAYLOAD = (
    "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-426655440000"
    "5204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D"
)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_chunks(data: bytes) -> dict[bytes, bytes]:
    chunks: dict[bytes, bytes] = {}
    pos = len(PNG_SIGNATURE)
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        chunks[kind] = chunks.get(kind, b"") + data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    return chunks


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def png_pixels(data: bytes) -> list[list[int]]:
    """Rows of 0/1 pixels of a 1-bit greyscale, non-interlaced PNG (what segno writes)."""
    chunks = png_chunks(data)
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert (depth, colour, interlace) == (1, 0, 0)
    raw = zlib.decompress(chunks[b"IDAT"])
    stride = (width + 7) // 8
    rows: list[list[int]] = []
    previous = bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left, up, up_left = (line[i - 1] if i else 0), previous[i], (previous[i - 1] if i else 0)
            predictor = [0, left, up, (left + up) // 2, _paeth(left, up, up_left)][kind]
            line[i] = (line[i] + predictor) & 0xFF
        rows.append([(line[x // 8] >> (7 - x % 8)) & 1 for x in range(width)])
        previous = line
    return rows


def test_png_has_signature_and_expected_size() -> None:
    code = qr_code(PAYLOAD)
    png = qr_png(PAYLOAD, scale=3)
    assert png.startswith(PNG_SIGNATURE)
    width, height = struct.unpack(">II", png_chunks(png)[b"IHDR"][:8])
    modules = 17 + 4 * int(code.version)
    assert width == height == (modules + 2 * BORDER) * 3


def test_symbol_is_a_sane_qr_for_a_br_code() -> None:
    code = qr_code(PAYLOAD)
    assert code.error == "M"
    assert code.mode == "byte"
    assert not code.is_micro
    # ~140 characters at level M: a version a phone camera reads comfortably.
    assert 5 <= int(code.version) <= 10


def test_png_modules_match_the_qr_matrix() -> None:
    scale = 2
    code = qr_code(PAYLOAD)
    pixels = png_pixels(qr_png(PAYLOAD, scale=scale))
    for r, row in enumerate(code.matrix):
        for c, module in enumerate(row):
            y, x = (r + BORDER) * scale, (c + BORDER) * scale
            assert pixels[y][x] == (0 if module else 1), f"module ({r}, {c})"  # dark = 0 in greyscale
    assert all(p == 1 for p in pixels[0])  # the quiet zone is light


def test_svg_is_xml_of_the_same_size() -> None:
    code = qr_code(PAYLOAD)
    root = ET.fromstring(qr_svg(PAYLOAD, scale=4))
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    side = str((17 + 4 * int(code.version) + 2 * BORDER) * 4)
    assert (root.get("width"), root.get("height")) == (side, side)
    assert root.find("{http://www.w3.org/2000/svg}path") is not None


def test_default_scale_is_six() -> None:
    width = struct.unpack(">I", png_chunks(qr_png(PAYLOAD))[b"IHDR"][:4])[0]
    assert width == (17 + 4 * int(qr_code(PAYLOAD).version) + 2 * BORDER) * 6


@pytest.mark.parametrize("call", [lambda: qr_png(""), lambda: qr_svg(""), lambda: qr_png(PAYLOAD, scale=0)])
def test_rejects_empty_payload_and_bad_scale(call: object) -> None:
    with pytest.raises(ValueError):
        call()  # type: ignore[operator]
