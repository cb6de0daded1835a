"""Small self-contained SVG charts for the admin pages: loss curves and Bland–Altman plots.

Pure Python (no matplotlib in the web process). Every text is XML-escaped, every number is
formatted by this module, so the returned markup can be embedded in a page as is.

Chart coordinates: data ``(x, y)`` map linearly to the plot box, y up (SVG y grows downward, so
``y_svg = bottom - (y - y_min) * scale``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["LineSeries", "BlandAltmanGroup", "line_chart_svg", "bland_altman_svg"]

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
_MARGIN_LEFT, _MARGIN_RIGHT, _MARGIN_TOP, _MARGIN_BOTTOM = 56, 20, 28, 40
_LEGEND_ROW = 16


@dataclass(frozen=True)
class LineSeries:
    """One polyline: ``points`` are ``(x, y)`` data pairs, drawn in order; ``colour`` from the palette."""

    label: str
    points: Sequence[tuple[float, float]]
    colour: str = PALETTE[0]
    show_in_legend: bool = True


@dataclass(frozen=True)
class BlandAltmanGroup:
    """One version's points ``(mean, difference)`` with its bias and limits of agreement (``None``: not drawn)."""

    label: str
    points: Sequence[tuple[float, float]]
    bias: float | None = None
    loa_low: float | None = None
    loa_high: float | None = None
    colour: str = PALETTE[0]


@dataclass(frozen=True)
class _Frame:
    width: int
    height: int
    x_min: float
    x_max: float
    y_min: float
    y_max: float
    legend_rows: int = 0

    @property
    def left(self) -> float:
        return _MARGIN_LEFT

    @property
    def right(self) -> float:
        return self.width - _MARGIN_RIGHT

    @property
    def top(self) -> float:
        return _MARGIN_TOP

    @property
    def bottom(self) -> float:
        return self.height - _MARGIN_BOTTOM

    @property
    def total_height(self) -> int:
        """The plot plus the legend rows under it."""
        return self.height + _LEGEND_ROW * self.legend_rows + 12

    def sx(self, x: float) -> float:
        return self.left + (x - self.x_min) / (self.x_max - self.x_min) * (self.right - self.left)

    def sy(self, y: float) -> float:
        return self.bottom - (y - self.y_min) / (self.y_max - self.y_min) * (self.bottom - self.top)


def _padded_range(values: Sequence[float]) -> tuple[float, float]:
    """``(min, max)`` with 5 % padding; a single value or no value gets a unit-wide range."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return 0.0, 1.0
    low, high = min(finite), max(finite)
    if high - low < 1e-12:
        return low - 0.5, high + 0.5
    pad = 0.05 * (high - low)
    return low - pad, high + pad


def _number(value: float) -> str:
    return f"{value:.3g}"


def _axes(frame: _Frame, *, title: str, x_label: str, y_label: str) -> list[str]:
    parts = [
        f'<rect x="{frame.left:.1f}" y="{frame.top:.1f}" width="{frame.right - frame.left:.1f}" '
        f'height="{frame.bottom - frame.top:.1f}" fill="#fff" stroke="#999"/>',
        f'<text x="{frame.left:.1f}" y="{frame.top - 10:.1f}" font-size="13" font-weight="bold">{escape(title)}</text>',
        f'<text x="{(frame.left + frame.right) / 2:.1f}" y="{frame.height - 6:.1f}" font-size="11" '
        f'text-anchor="middle">{escape(x_label)}</text>',
        f'<text x="12" y="{(frame.top + frame.bottom) / 2:.1f}" font-size="11" text-anchor="middle" '
        f'transform="rotate(-90 12 {(frame.top + frame.bottom) / 2:.1f})">{escape(y_label)}</text>',
    ]
    for k in range(5):
        x = frame.x_min + k * (frame.x_max - frame.x_min) / 4
        y = frame.y_min + k * (frame.y_max - frame.y_min) / 4
        parts.append(f'<text x="{frame.sx(x):.1f}" y="{frame.bottom + 14:.1f}" font-size="10" '
                     f'text-anchor="middle">{_number(x)}</text>')
        parts.append(f'<text x="{frame.left - 4:.1f}" y="{frame.sy(y) + 3:.1f}" font-size="10" '
                     f'text-anchor="end">{_number(y)}</text>')
        parts.append(f'<line x1="{frame.left:.1f}" x2="{frame.right:.1f}" y1="{frame.sy(y):.1f}" '
                     f'y2="{frame.sy(y):.1f}" stroke="#eee"/>')
    return parts


def _legend(frame: _Frame, entries: Sequence[tuple[str, str]]) -> list[str]:
    """One row per entry under the plot (long labels never run out of the picture)."""
    parts = []
    for k, (label, colour) in enumerate(entries):
        y = frame.height + 12 + _LEGEND_ROW * k
        parts.append(f'<rect x="{frame.left:.1f}" y="{y - 9:.1f}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{frame.left + 14:.1f}" y="{y:.1f}" font-size="11">{escape(label)}</text>')
    return parts


def _svg(frame: _Frame, parts: Sequence[str], *, title: str) -> str:
    height = frame.total_height
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{frame.width}" height="{height}" '
            f'viewBox="0 0 {frame.width} {height}" role="img" aria-label="{escape(title)}">'
            + "".join(parts) + "</svg>")


def line_chart_svg(
    series: Sequence[LineSeries], *, title: str, x_label: str, y_label: str, width: int = 720, height: int = 280
) -> str:
    """An SVG line chart: one polyline with point markers per series, legend under the plot.

    Examples
    --------
    >>> svg = line_chart_svg([LineSeries("unet", [(1, 0.9), (2, 0.5)])], title="loss", x_label="epoch",
    ...                      y_label="loss")
    >>> svg.startswith("<svg") and "polyline" in svg
    True
    """
    xs = [x for s in series for x, _ in s.points]
    ys = [y for s in series for _, y in s.points]
    frame = _Frame(width, height, *_padded_range(xs), *_padded_range(ys),
                   legend_rows=sum(s.show_in_legend for s in series))
    parts = _axes(frame, title=title, x_label=x_label, y_label=y_label)
    for s in series:
        coords = " ".join(f"{frame.sx(x):.1f},{frame.sy(y):.1f}" for x, y in s.points
                          if math.isfinite(x) and math.isfinite(y))
        parts.append(f'<polyline points="{coords}" fill="none" stroke="{s.colour}" stroke-width="1.5"/>')
        parts.extend(f'<circle cx="{frame.sx(x):.1f}" cy="{frame.sy(y):.1f}" r="2.5" fill="{s.colour}"/>'
                     for x, y in s.points if math.isfinite(x) and math.isfinite(y))
    parts.extend(_legend(frame, [(s.label, s.colour) for s in series if s.show_in_legend]))
    return _svg(frame, parts, title=title)


def bland_altman_svg(
    groups: Sequence[BlandAltmanGroup], *, title: str, unit: str = "", width: int = 720, height: int = 300
) -> str:
    """An SVG Bland–Altman plot: difference against mean, with each group's bias and 95 % limits.

    x = ``(predicted + reference) / 2``, y = ``predicted - reference``; the bias is a solid line and
    the limits of agreement dashed lines in the group's colour; zero difference is a grey line.
    """
    suffix = f" ({unit})" if unit else ""
    xs = [x for g in groups for x, _ in g.points]
    ys = [y for g in groups for _, y in g.points]
    ys += [v for g in groups for v in (g.bias, g.loa_low, g.loa_high) if v is not None]
    frame = _Frame(width, height, *_padded_range(xs), *_padded_range([*ys, 0.0]), legend_rows=len(groups))
    parts = _axes(frame, title=title, x_label=f"mean of ensemble and approved{suffix}",
                  y_label=f"ensemble − approved{suffix}")
    parts.append(f'<line x1="{frame.left:.1f}" x2="{frame.right:.1f}" y1="{frame.sy(0.0):.1f}" '
                 f'y2="{frame.sy(0.0):.1f}" stroke="#888"/>')
    for g in groups:
        dashed = ' stroke-dasharray="5,4"'
        for value, dash in ((g.bias, ""), (g.loa_low, dashed), (g.loa_high, dashed)):
            if value is not None:
                parts.append(f'<line x1="{frame.left:.1f}" x2="{frame.right:.1f}" y1="{frame.sy(value):.1f}" '
                             f'y2="{frame.sy(value):.1f}" stroke="{g.colour}"{dash}/>')
        parts.extend(f'<circle cx="{frame.sx(x):.1f}" cy="{frame.sy(y):.1f}" r="3" fill="{g.colour}" '
                     f'fill-opacity="0.7"/>' for x, y in g.points)
    legend = []
    for g in groups:
        detail = "" if g.bias is None else f" bias {_number(g.bias)}"
        if g.loa_low is not None and g.loa_high is not None:
            detail += f", LoA [{_number(g.loa_low)}, {_number(g.loa_high)}]"
        legend.append((f"{g.label}{detail}", g.colour))
    parts.extend(_legend(frame, legend))
    return _svg(frame, parts, title=title)
