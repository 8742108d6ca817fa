"""Charts as inline SVG text: bars, histograms and a line over time, for the HTML report.

Each function returns one `<svg>` element (no namespace attribute, no script, no font or
image to fetch) that scales to its container's width. Labels go through `esc`: HTML-escaped,
and "//" written with entities, so no text in a page reads as an address.
"""

from __future__ import annotations

import bisect
import html
import math
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

MAX_POINTS = 500  # of a line chart
BAR = "#4e79a7"
LINE = "#e15759"


def esc(value: Any) -> str:
    """Text for the page: HTML-escaped, and no "//" left to read as an address."""
    return html.escape(str(value)).replace("//", "&#47;&#47;")


def _nice(top: float) -> float:
    """A round axis maximum at or above `top`."""
    if top <= 0:
        return 1.0
    step = 10.0 ** math.floor(math.log10(top))
    for factor in (1, 2, 2.5, 5, 10):
        if top <= factor * step:
            return factor * step
    return 10 * step


def _number(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    return f"{value:g}" if value == int(value) else f"{value:.3g}"


def bars(rows: Sequence[tuple[str, float]], *, label: str) -> str:
    """A horizontal bar chart: one labelled bar per row, its value at its end."""
    if not rows:
        return '<p class="muted">no data</p>'
    top = max(value for _, value in rows) or 1.0
    height, width, left = 22 * len(rows) + 8, 480, 130
    parts = [f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="{esc(label)}">']
    for i, (name, value) in enumerate(rows):
        y = 4 + 22 * i
        length = (width - left - 70) * value / top
        parts.append(f'<text x="{left - 6}" y="{y + 14}" text-anchor="end">{esc(name)}</text>'
                     f'<rect x="{left}" y="{y + 2}" width="{length:.1f}" height="16" '
                     f'fill="{BAR}"/><text x="{left + length + 4:.1f}" y="{y + 14}">'
                     f"{_number(value)}</text>")
    parts.append("</svg>")
    return "".join(parts)


def _frame(width: int, height: int, label: str, x_label: str, y_label: str, y_top: float,
           x_ticks: Iterable[tuple[float, str]]) -> list[str]:
    """Axes, grid lines and labels of a chart whose plot area is (50..w-10, 10..h-40)."""
    parts = [f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="{esc(label)}">']
    bottom, right = height - 40, width - 10
    for k in range(5):
        y = bottom - (bottom - 10) * k / 4
        parts.append(f'<line x1="50" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e6eb"/>'
                     f'<text x="46" y="{y + 4:.1f}" text-anchor="end">'
                     f"{_number(y_top * k / 4)}</text>")
    for x, text in x_ticks:
        anchor = "end" if x > right - 20 else "middle"  # the last one inside the frame
        parts.append(f'<text x="{x:.1f}" y="{bottom + 15}" text-anchor="{anchor}">'
                     f"{esc(text)}</text>")
    parts.append(f'<text x="{(50 + right) / 2}" y="{height - 6}" text-anchor="middle">'
                 f"{esc(x_label)}</text>"
                 f'<text x="12" y="{bottom / 2}" transform="rotate(-90 12 {bottom / 2})" '
                 f'text-anchor="middle">{esc(y_label)}</text>')
    return parts


def histogram(values: Sequence[float], edges: Sequence[float], *, label: str, x_label: str,
              y_label: str) -> str:
    """Counts of `values` in the bins between consecutive `edges` (the last bin is closed)."""
    if not values or len(edges) < 2:
        return '<p class="muted">no data</p>'
    counts = [0] * (len(edges) - 1)
    inner = edges[1:-1]  # a value below the first edge counts in the first bin
    for value in values:
        counts[bisect.bisect_right(inner, value)] += 1
    width, height = 480, 260
    top = _nice(max(counts))
    span = edges[-1] - edges[0] or 1.0
    def x(v: float) -> float:
        return 50 + (width - 60) * (v - edges[0]) / span
    ticks = [(x(edges[i]), _number(edges[i]))
             for i in range(0, len(edges), max(1, len(edges) // 6))]
    parts = _frame(width, height, label, x_label, y_label, top, ticks)
    bottom = height - 40
    for i, count in enumerate(counts):
        h = (bottom - 10) * count / top
        parts.append(f'<rect x="{x(edges[i]) + 0.5:.1f}" y="{bottom - h:.1f}" '
                     f'width="{max(x(edges[i + 1]) - x(edges[i]) - 1, 0.5):.1f}" '
                     f'height="{h:.1f}" fill="{BAR}"><title>{_number(edges[i])}: {count}'
                     "</title></rect>")
    parts.append("</svg>")
    return "".join(parts)


def line_chart(points: Sequence[tuple[datetime, float]], *, label: str, y_label: str) -> str:
    """A step line of a cumulative figure over wall-clock time (UTC)."""
    if len(points) < 2:
        return '<p class="muted">not enough points</p>'
    width, height = 480, 240
    start, end = points[0][0], points[-1][0]
    span = (end - start).total_seconds() or 1.0
    top = _nice(max(value for _, value in points))
    bottom = height - 40
    def xy(at: datetime, value: float) -> str:
        x = 50 + (width - 60) * (at - start).total_seconds() / span
        return f"{x:.1f},{bottom - (bottom - 10) * value / top:.1f}"
    if span < 60:  # seconds from the start
        digits = 2 if span < 1 else 1 if span < 10 else 0
        ticks = [(50 + (width - 60) * k / 4, f"+{span * k / 4:.{digits}f}s") for k in range(5)]
        x_label = f"seconds from {start:%Y-%m-%d %H:%M:%S} UTC"
    else:
        ticks = [(50 + (width - 60) * k / 4, f"{start + (end - start) * k / 4:%H:%M}")
                 for k in range(5)]
        x_label = f"time (UTC, from {start:%Y-%m-%d})"
    parts = _frame(width, height, label, x_label, y_label, top, ticks)
    step = max(1, len(points) // MAX_POINTS)  # a page, not a data file: the shape is enough
    shown = [*points[::step], points[-1]] if (len(points) - 1) % step else points[::step]
    path = " ".join(xy(at, value) for at, value in shown)
    parts.append(f'<polyline points="{path}" fill="none" stroke="{LINE}" stroke-width="2"/>'
                 "</svg>")
    return "".join(parts)
