"""Server-rendered SVG charts: pure functions from numbers to SVG text.

No JavaScript, no fonts or files from elsewhere, no ``style`` attributes (the
status site's Content-Security-Policy forbids inline styles; SVG presentation
attributes are not styles). Every chart is ``role="img"`` with a ``<title>``
and ``<desc>`` referenced by ``aria-labelledby``, and every piece of text is
XML-escaped, so a component or label name cannot inject markup. Pages show a
data table beside each chart for readers who cannot see it.

Each chart is drawn twice, for a wide and a phone-sized frame (classes
``chart-wide`` and ``chart-narrow``; the stylesheet shows one by screen width).
Scaling one wide drawing down to a phone shrank its text to about 6 px; the
narrow frame keeps text at its size and labels fewer months.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape as _xml_escape

from crashbot_core.durations import format_duration

__all__ = ["bar_chart", "count_axis", "line_chart", "nice_ceiling", "safe_color"]

#: Fallback series colours (colour-blind friendly, Okabe-Ito).
PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000")


@dataclass(frozen=True)
class Frame:
    """The geometry of one drawing: size, margins, font size, x labels shown."""

    name: str
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    font: int
    max_labels: int

    @property
    def plot_w(self) -> float:
        """Width of the plotting area."""
        return self.width - self.left - self.right

    @property
    def plot_h(self) -> float:
        """Height of the plotting area."""
        return self.height - self.top - self.bottom


#: A desktop-width drawing (shown above 40rem).
WIDE = Frame("wide", 720, 280, 64, 16, 16, 64, 11, 12)
#: A phone-width drawing: drawn at about the size it is shown, so 13 px text stays 13 px.
NARROW = Frame("narrow", 360, 320, 56, 10, 14, 96, 13, 4)
FRAMES = (WIDE, NARROW)

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


def count_axis(largest: float) -> tuple[int, int]:
    """An axis for counts: ``(top, ticks)`` with whole numbers at every tick.

    Incidents come in whole numbers, so a tick at 2.5 would read as half an
    incident: the step is 1, 2 or 5 times a power of ten, at most 5 ticks.
    """
    if largest <= 0 or not math.isfinite(largest):
        return 1, 1
    whole = math.ceil(largest)
    if whole <= 5:
        return whole, whole
    power = 10 ** math.floor(math.log10(whole))
    step = power
    for candidate in (
        power // 10 or 1,
        power // 5 or 1,
        power // 2 or 1,
        power,
        2 * power,
        5 * power,
    ):
        if math.ceil(whole / candidate) <= 5:
            step = candidate
            break
    ticks = math.ceil(whole / step)
    return step * ticks, ticks


def _open(title: str, desc: str, ident: str, frame: Frame) -> list[str]:
    ident = (re.sub(r"[^A-Za-z0-9_-]", "-", ident) or "chart") + (
        "" if frame is WIDE else f"-{frame.name}"
    )
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {frame.width} {frame.height}" '
        f'width="100%" role="img" aria-labelledby="{ident}-title {ident}-desc" '
        f'class="chart chart-{frame.name}" font-family="system-ui, sans-serif" '
        f'font-size="{frame.font}">',
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<desc id="{ident}-desc">{escape(desc)}</desc>',
    ]


def _axes(
    frame: Frame,
    labels: Sequence[str],
    top: float,
    fmt: Callable[[float], str],
    ticks: int = 4,
) -> list[str]:
    out = ['<g class="axes" fill="currentColor" stroke="none">']
    for i in range(ticks + 1):
        value = top * i / ticks
        y = frame.top + frame.plot_h - frame.plot_h * i / ticks
        out.append(
            f'<line x1="{frame.left}" y1="{y:.1f}" x2="{frame.width - frame.right}" y2="{y:.1f}" '
            f'stroke="currentColor" stroke-opacity="0.15"/>'
        )
        out.append(
            f'<text x="{frame.left - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(fmt(value))}</text>'
        )
    n = len(labels)
    # A bounded number of x labels, so three years of months stay readable.
    every = max(1, math.ceil(n / frame.max_labels))
    for i, label in enumerate(labels):
        if i % every:
            continue
        x = frame.left + frame.plot_w * (i + 0.5) / max(n, 1)
        y = frame.height - frame.bottom + frame.font + 5
        out.append(f'<text x="{x:.1f}" y="{y}" text-anchor="middle">{escape(label)}</text>')
    out.append("</g>")
    return out


def _legend(frame: Frame, names: Sequence[str], colors: Sequence[str]) -> list[str]:
    out = ['<g class="legend" fill="currentColor">']
    # Entries wrap onto further rows instead of running off a narrow drawing.
    char = frame.font * 0.62
    row_h = frame.font + 8
    rows: list[list[tuple[str, str, float]]] = [[]]
    x = float(frame.left)
    for name, color in zip(names, colors, strict=True):
        w = 24 + char * len(name)
        if rows[-1] and x + w > frame.width - frame.right:
            rows.append([])
            x = float(frame.left)
        rows[-1].append((name, color, x))
        x += w
    y = frame.height - 8 - row_h * (len(rows) - 1)
    for row in rows:
        for name, color, rx in row:
            out.append(
                f'<rect x="{rx:.1f}" y="{y - frame.font + 2}" width="10" height="10" fill="{color}"/>'
            )
            out.append(f'<text x="{rx + 14:.1f}" y="{y}">{escape(name)}</text>')
        y += row_h
    out.append("</g>")
    return out


def _empty(title: str, desc: str, ident: str, frame: Frame) -> str:
    return "\n".join(
        [
            *_open(title, desc, ident, frame),
            f'<text x="{frame.width / 2}" y="{frame.height / 2}" text-anchor="middle" '
            'fill="currentColor">No incidents in this period</text>',
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
    :returns: two ``<svg>`` elements as text, the wide and the narrow drawing.
    """
    return "\n".join(
        _line(frame, title, desc, labels, series, ident=ident, durations=durations)
        for frame in FRAMES
    )


def _line(
    frame: Frame,
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    ident: str,
    durations: bool,
) -> str:
    values = [v for _, vs in series for v in vs if v is not None]
    if not labels or not values:
        return _empty(title, desc, ident, frame)
    fmt: Callable[[float], str] = (lambda v: format_duration(v)) if durations else _count_label
    if durations:
        top, ticks = _duration_ceiling(max(values)), 4
    else:
        top_int, ticks = count_axis(max(values))
        top = float(top_int)
    n = len(labels)
    colors = [safe_color(None, i) for i in range(len(series))]
    out = [*_open(title, desc, ident, frame), *_axes(frame, labels, top, fmt, ticks)]
    for (name, vs), color in zip(series, colors, strict=True):
        points: list[list[str]] = [[]]
        dots: list[str] = []
        for i, v in enumerate(vs):
            if v is None:
                points.append([])
                continue
            x = frame.left + frame.plot_w * (i + 0.5) / n
            y = frame.top + frame.plot_h - frame.plot_h * min(v, top) / top
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
    out += _legend(frame, [name for name, _ in series], colors)
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

    The count axis has whole numbers at every tick (:func:`count_axis`).

    :param colors: a colour per series (``#rrggbb``); anything else falls back to the palette.
    :returns: two ``<svg>`` elements as text, the wide and the narrow drawing.
    """
    return "\n".join(
        _bars(frame, title, desc, labels, series, colors=colors, ident=ident) for frame in FRAMES
    )


def _bars(
    frame: Frame,
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[int]]],
    *,
    colors: Sequence[str | None],
    ident: str,
) -> str:
    n = len(labels)
    totals = [sum(vs[i] for _, vs in series) for i in range(n)]
    if not n or not any(totals):
        return _empty(title, desc, ident, frame)
    top, ticks = count_axis(max(totals))
    slot = frame.plot_w / n
    bar_w = max(1.0, slot * 0.7)
    fills = [safe_color(colors[i] if i < len(colors) else None, i) for i in range(len(series))]
    out = [*_open(title, desc, ident, frame), *_axes(frame, labels, top, _count_label, ticks)]
    for i, label in enumerate(labels):
        x = frame.left + slot * i + (slot - bar_w) / 2
        base = 0
        for (name, vs), fill in zip(series, fills, strict=True):
            count = vs[i]
            if not count:
                continue
            h = frame.plot_h * count / top
            y = frame.top + frame.plot_h - frame.plot_h * (base + count) / top
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="{fill}">'
                f"<title>{escape(f'{label}, {name}: {count}')}</title></rect>"
            )
            base += count
    out += _legend(frame, [name for name, _ in series], fills)
    out.append("</svg>")
    return "\n".join(out)
