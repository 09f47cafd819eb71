"""Server-side SVG charts for the admin dashboard: no JavaScript, no external library.
Every label is escaped; the result is marked safe by the template."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 640, 220
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 56, 12, 24, 42
BRAND = "#0b6e4f"


def _ticks(top: Decimal) -> list[Decimal]:
    return [top * k / 4 for k in range(5)]


def _nice_max(value: Decimal) -> Decimal:
    if value <= 0:
        return Decimal(1)
    magnitude = Decimal(10) ** (len(str(int(value))) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return Decimal(step) * magnitude
    return value


def _fmt(value: Decimal, money: bool) -> str:
    if money:
        return f"{value:,.0f}".replace(",", ".")
    return f"{value.normalize():f}" if value == value.to_integral() else f"{value:.1f}"


def bar_chart(
    title: str, labels: Sequence[str], values: Sequence[Decimal | int], *, money: bool = False,
    label_every: int = 1,
) -> Markup:  # fmt: skip
    """Vertical bars, one per label; ``label_every`` thins the x labels of long series."""
    nums = [Decimal(v) for v in values]
    top = _nice_max(max(nums, default=Decimal(0)))
    plot_w, plot_h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM
    n = max(len(nums), 1)
    slot = plot_w / n
    bar = max(slot * 0.7, 1.0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" class="chart">',
        f"<title>{escape(title)}</title>",
        f'<text x="{PAD_LEFT}" y="16" font-size="13" font-weight="600" fill="#1d2433">{escape(title)}</text>',
    ]
    for tick in _ticks(top):
        y = PAD_TOP + plot_h - float(tick / top) * plot_h
        parts.append(
            f'<line x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#dde2e8"/>'
        )
        parts.append(
            f'<text x="{PAD_LEFT - 6}" y="{y + 4:.1f}" font-size="10" text-anchor="end" fill="#5f6b7a">'
            f"{escape(_fmt(tick, money))}</text>"
        )
    for i, (label, value) in enumerate(zip(labels, nums, strict=True)):
        h = float(value / top) * plot_h
        x = PAD_LEFT + i * slot + (slot - bar) / 2
        y = PAD_TOP + plot_h - h
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{BRAND}">'
            f"<title>{escape(label)}: {escape(_fmt(value, money))}</title></rect>"
        )
        if i % max(label_every, 1) == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{HEIGHT - PAD_BOTTOM + 14}" font-size="10" '
                f'text-anchor="middle" fill="#5f6b7a">{escape(label)}</text>'
            )
    if not nums:
        parts.append(
            f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" fill="#5f6b7a">sem dados</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
