"""Server-rendered SVG charts: pure functions from numbers to SVG text.

No JavaScript, no fonts or files from elsewhere, no ``style`` attributes (the
status site's Content-Security-Policy forbids inline styles; SVG presentation
attributes are not styles). Every chart is ``role="img"`` with a ``<title>``
and ``<desc>`` referenced by ``aria-labelledby``, and every piece of text is
XML-escaped, so a component or label name cannot inject markup. Pages show a
data table beside each chart for readers who cannot see it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from xml.sax.saxutils import escape as _xml_escape

from crashbot_core.durations import format_duration

__all__ = ["bar_chart", "line_chart", "nice_ceiling", "safe_color"]

#: Fallback series colours (colour-blind friendly, Okabe-Ito).
PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000")

WIDTH = 720
HEIGHT = 280
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 16, 16, 64

_HEX = re.compile(r"#[0-9a-fA-F]{3}(?:[0-9a-fA-F]{3})?")


def escape(text: object) -> str:
    """Escape text for SVG/XML content and double-quoted attributes."""
    return _xml_escape(str(text), {'"': "&quot;", "'": "&#39;"})


def safe_color(value: str | None, index: int = 0) -> str:
    """``value`` when it is a ``#rgb``/``#rrggbb`` colour, else a palette colour."""
    if value and _HEX.fullmatch(value):
        return value
    return PALETTE[index % len(PALETTE)]


def nice_ceiling(value: float) -> float:
    """A round axis maximum at or above ``value`` (1, 2, 2.5 or 5 times a power of ten)."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return float(step * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def _duration_ceiling(seconds: float) -> float:
    # Round durations: whole minutes, hours or days read better than 2.5e3 s.
    for unit in (60, 3600, 86400):
        if seconds <= 10 * unit or unit == 86400:
            return nice_ceiling(seconds / unit) * unit
    return nice_ceiling(seconds)  # pragma: no cover


def _count_label(value: float) -> str:
    return f"{value:g}"


def _open(title: str, desc: str, ident: str) -> list[str]:
    ident = re.sub(r"[^A-Za-z0-9_-]", "-", ident) or "chart"
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="100%" role="img" aria-labelledby="{ident}-title {ident}-desc" '
        f'class="chart" font-family="system-ui, sans-serif" font-size="11">',
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<desc id="{ident}-desc">{escape(desc)}</desc>',
    ]


def _axes(
    labels: Sequence[str], top: float, fmt: Callable[[float], str], ticks: int = 4
) -> list[str]:
    plot_w = WIDTH - _LEFT - _RIGHT
    plot_h = HEIGHT - _TOP - _BOTTOM
    out = ['<g class="axes" fill="currentColor" stroke="none">']
    for i in range(ticks + 1):
        value = top * i / ticks
        y = _TOP + plot_h - plot_h * i / ticks
        out.append(
            f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{WIDTH - _RIGHT}" y2="{y:.1f}" '
            f'stroke="currentColor" stroke-opacity="0.15"/>'
        )
        out.append(
            f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(fmt(value))}</text>'
        )
    n = len(labels)
    # At most ~12 x labels, so three years of months stay readable.
    every = max(1, math.ceil(n / 12))
    for i, label in enumerate(labels):
        if i % every:
            continue
        x = _LEFT + plot_w * (i + 0.5) / max(n, 1)
        out.append(
            f'<text x="{x:.1f}" y="{HEIGHT - _BOTTOM + 16}" text-anchor="middle">{escape(label)}</text>'
        )
    out.append("</g>")
    return out


def _legend(names: Sequence[str], colors: Sequence[str]) -> list[str]:
    out = ['<g class="legend" fill="currentColor">']
    x = _LEFT
    y = HEIGHT - 18
    for name, color in zip(names, colors, strict=True):
        out.append(f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{color}"/>')
        out.append(f'<text x="{x + 14}" y="{y}">{escape(name)}</text>')
        x += 24 + 7 * len(name)
    out.append("</g>")
    return out


def _empty(title: str, desc: str, ident: str) -> str:
    return "\n".join(
        [
            *_open(title, desc, ident),
            f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" fill="currentColor">'
            "No incidents in this period</text>",
            "</svg>",
        ]
    )


def line_chart(
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    ident: str = "line",
    durations: bool = True,
) -> str:
    """One line per series over ``labels`` (x); ``None`` values leave a gap.

    :param durations: y values are seconds, labelled ``12m 30s``; else plain numbers.
    :returns: an ``<svg>`` element as text.
    """
    values = [v for _, vs in series for v in vs if v is not None]
    if not labels or not values:
        return _empty(title, desc, ident)
    fmt: Callable[[float], str] = (lambda v: format_duration(v)) if durations else _count_label
    top = _duration_ceiling(max(values)) if durations else nice_ceiling(max(values))
    plot_w = WIDTH - _LEFT - _RIGHT
    plot_h = HEIGHT - _TOP - _BOTTOM
    n = len(labels)
    colors = [safe_color(None, i) for i in range(len(series))]
    out = [*_open(title, desc, ident), *_axes(labels, top, fmt)]
    for (name, vs), color in zip(series, colors, strict=True):
        points: list[list[str]] = [[]]
        dots: list[str] = []
        for i, v in enumerate(vs):
            if v is None:
                points.append([])
                continue
            x = _LEFT + plot_w * (i + 0.5) / n
            y = _TOP + plot_h - plot_h * min(v, top) / top
            points[-1].append(f"{x:.1f},{y:.1f}")
            dots.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{color}">'
                f"<title>{escape(f'{name}, {labels[i]}: {fmt(v)}')}</title></circle>"
            )
        out.append(f'<g class="series" data-series="{escape(name)}">')
        for run in points:
            if len(run) > 1:
                out.append(
                    f'<polyline points="{" ".join(run)}" fill="none" stroke="{color}" stroke-width="2"/>'
                )
        out += dots
        out.append("</g>")
    out += _legend([name for name, _ in series], colors)
    out.append("</svg>")
    return "\n".join(out)


def bar_chart(
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[int]]],
    *,
    colors: Sequence[str | None] = (),
    ident: str = "bars",
) -> str:
    """Stacked bars: one bar per label, one segment per series (e.g. severities per month).

    :param colors: a colour per series (``#rrggbb``); anything else falls back to the palette.
    :returns: an ``<svg>`` element as text.
    """
    n = len(labels)
    totals = [sum(vs[i] for _, vs in series) for i in range(n)]
    if not n or not any(totals):
        return _empty(title, desc, ident)
    top = nice_ceiling(max(totals))
    plot_w = WIDTH - _LEFT - _RIGHT
    plot_h = HEIGHT - _TOP - _BOTTOM
    slot = plot_w / n
    bar_w = max(1.0, slot * 0.7)
    fills = [safe_color(colors[i] if i < len(colors) else None, i) for i in range(len(series))]
    out = [*_open(title, desc, ident), *_axes(labels, top, _count_label)]
    for i, label in enumerate(labels):
        x = _LEFT + slot * i + (slot - bar_w) / 2
        base = 0
        for (name, vs), fill in zip(series, fills, strict=True):
            count = vs[i]
            if not count:
                continue
            h = plot_h * count / top
            y = _TOP + plot_h - plot_h * (base + count) / top
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="{fill}">'
                f"<title>{escape(f'{label}, {name}: {count}')}</title></rect>"
            )
            base += count
    out += _legend([name for name, _ in series], fills)
    out.append("</svg>")
    return "\n".join(out)
