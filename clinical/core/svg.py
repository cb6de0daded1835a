"""Server-side SVG charts: a metric over time (timeline) and a Bland–Altman plot.

Pure string building (no plotting library, no JavaScript); every text is escaped. Chart coordinates
are SVG user units with y down; data are mapped linearly into a plot rectangle inside fixed margins.

Timeline marks: approved visits are filled circles, predicted ones hollow diamonds (marked in the
caption and the tooltip); vertical bars span the Monte-Carlo 95% interval (p2.5–p97.5); a point
outside its normal range gets a red ring; the shaded band is the normal range in force at each
visit (it can change with age).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from html import escape
from typing import Any

from clinical.core.agreement import BlandAltman
from clinical.core.normal_ranges import METRIC_LABELS
from clinical.core.timeline import Series, SeriesPoint

__all__ = ["bland_altman_svg", "nice_ticks", "overlay_svg", "timeline_svg"]

_FONT = 'font-family="system-ui, sans-serif" font-size="11"'
APPROVED_COLOUR = "#1f4e99"
PREDICTED_COLOUR = "#d9730d"
OUT_OF_RANGE_COLOUR = "#c0262d"
BAND_COLOUR = "#d7eed9"


@dataclass(frozen=True)
class _Frame:
    """Linear map of data ``(x, y)`` into the plot rectangle of a ``width x height`` chart."""

    width: float
    height: float
    x_lo: float
    x_hi: float
    y_lo: float
    y_hi: float
    left: float = 58.0
    right: float = 16.0
    top: float = 14.0
    bottom: float = 40.0

    def x(self, value: float) -> float:
        span = self.x_hi - self.x_lo
        return self.left + (value - self.x_lo) / span * (self.width - self.left - self.right)

    def y(self, value: float) -> float:
        span = self.y_hi - self.y_lo
        return self.height - self.bottom - (value - self.y_lo) / span * (self.height - self.top - self.bottom)

    @property
    def plot_left(self) -> float:
        return self.left

    @property
    def plot_right(self) -> float:
        return self.width - self.right

    @property
    def plot_top(self) -> float:
        return self.top

    @property
    def plot_bottom(self) -> float:
        return self.height - self.bottom


def nice_ticks(lo: float, hi: float, *, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering ``[lo, hi]`` (steps of 1, 2 or 5 x 10^k)."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.ceil(lo / step) * step
    ticks = []
    value = first
    while value <= hi + 1e-9 * step:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _fmt(value: float) -> str:
    return f"{value:.1f}" if abs(value) < 1000 else f"{value:.0f}"


def _axes(frame: _Frame, y_ticks: Sequence[float], y_label: str) -> list[str]:
    parts = [f'<rect x="{frame.plot_left:.1f}" y="{frame.plot_top:.1f}" '
             f'width="{frame.plot_right - frame.plot_left:.1f}" height="{frame.plot_bottom - frame.plot_top:.1f}" '
             'fill="none" stroke="#b9c0cc"/>']
    for tick in y_ticks:
        y = frame.y(tick)
        parts.append(f'<line x1="{frame.plot_left:.1f}" x2="{frame.plot_right:.1f}" y1="{y:.1f}" y2="{y:.1f}" '
                     'stroke="#eceff3"/>')
        parts.append(f'<text x="{frame.plot_left - 6:.1f}" y="{y + 4:.1f}" text-anchor="end" {_FONT}>'
                     f'{escape(f"{tick:g}")}</text>')
    middle = (frame.plot_top + frame.plot_bottom) / 2
    parts.append(f'<text x="12" y="{middle:.1f}" text-anchor="middle" transform="rotate(-90 12 {middle:.1f})" '
                 f'{_FONT}>{escape(y_label)}</text>')
    return parts


def _days(d: date) -> float:
    return float(d.toordinal())


def _diamond(x: float, y: float, r: float) -> str:
    return f"{x:.1f},{y - r:.1f} {x + r:.1f},{y:.1f} {x:.1f},{y + r:.1f} {x - r:.1f},{y:.1f}"


def _unit_suffix(unit: str) -> str:
    return "°" if unit == "deg" else f" {unit}"


def timeline_svg(series: Series, *, width: int = 520, height: int = 210,
                 date_range: tuple[date, date] | None = None) -> str:
    """An SVG chart of one series over time with error bars and the normal-range band.

    Parameters
    ----------
    series : Series
        At least one point.
    width, height : int
        Size in SVG units (the chart scales with CSS width).
    date_range : (date, date), optional
        Shared x range so that several charts line up (default: the series' own dates).

    Returns
    -------
    str
        A standalone ``<svg>`` element.
    """
    points = series.points
    if not points:
        raise ValueError("a series needs at least one point")
    first, last = date_range or (points[0].visit_date, points[-1].visit_date)
    x_lo, x_hi = _days(first), _days(last)
    pad_days = max(20.0, 0.06 * (x_hi - x_lo))
    x_lo, x_hi = x_lo - pad_days, x_hi + pad_days

    values: list[float] = []
    for p in points:
        values += [p.reading.value] + [v for v in (p.reading.p2_5, p.reading.p97_5) if v is not None]
        ref = p.classification.reference
        if ref is not None and ref.has_range and ref.unit == series.unit:
            values += [float(ref.low), float(ref.high)]  # type: ignore[arg-type]
    y_lo, y_hi = min(values), max(values)
    y_pad = max(0.12 * (y_hi - y_lo), 1.0)
    frame = _Frame(width, height, x_lo, x_hi, y_lo - y_pad, y_hi + y_pad)
    y_ticks = [t for t in nice_ticks(frame.y_lo, frame.y_hi) if frame.y_lo <= t <= frame.y_hi]

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
             f'class="timeline-chart" data-metric="{escape(series.metric)}" data-leg="{escape(series.leg)}">',
             f"<title>{escape(series.label)}</title>"]
    parts += _band(series, frame)
    y_label = f"{METRIC_LABELS.get(series.metric, series.metric)} ({_unit_suffix(series.unit).strip()})"
    parts += _axes(frame, y_ticks, y_label)
    parts += _date_ticks(frame, [p.visit_date for p in points])
    if len(points) > 1:
        path = " ".join(f"{frame.x(_days(p.visit_date)):.1f},{frame.y(p.reading.value):.1f}" for p in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="#8a93a3" stroke-width="1.2"/>')
    for p in points:
        parts += _timeline_point(series, p, frame)
    parts.append("</svg>")
    return "".join(parts)


def _band(series: Series, frame: _Frame) -> list[str]:
    """The normal range in force at each point, from midway to the previous point to midway to the next."""
    points = series.points
    xs = [frame.x(_days(p.visit_date)) for p in points]
    edges = [frame.plot_left] + [(a + b) / 2 for a, b in zip(xs[:-1], xs[1:])] + [frame.plot_right]
    parts = []
    for p, x0, x1 in zip(points, edges[:-1], edges[1:]):
        ref = p.classification.reference
        if ref is None or not ref.has_range or ref.unit != series.unit:
            continue
        top, bottom = frame.y(float(ref.high)), frame.y(float(ref.low))  # type: ignore[arg-type]
        parts.append(f'<rect class="normal-band" x="{x0:.1f}" y="{top:.1f}" width="{x1 - x0:.1f}" '
                     f'height="{bottom - top:.1f}" fill="{BAND_COLOUR}"><title>normal {escape(ref.range_text())} '
                     f'({escape(ref.population)})</title></rect>')
    return parts


def _date_ticks(frame: _Frame, dates: Sequence[date]) -> list[str]:
    unique = sorted(set(dates))
    if len(unique) > 8:
        years = range(unique[0].year, unique[-1].year + 2)
        unique = [date(y, 1, 1) for y in years if frame.x_lo <= _days(date(y, 1, 1)) <= frame.x_hi]
    parts = []
    for d in unique:
        x = frame.x(_days(d))
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{frame.plot_bottom:.1f}" y2="{frame.plot_bottom + 4:.1f}" '
                     'stroke="#6b7385"/>')
        parts.append(f'<text x="{x:.1f}" y="{frame.plot_bottom + 16:.1f}" text-anchor="middle" {_FONT}>'
                     f"{escape(d.isoformat())}</text>")
    return parts


def _timeline_point(series: Series, p: SeriesPoint, frame: _Frame) -> list[str]:
    x, y = frame.x(_days(p.visit_date)), frame.y(p.reading.value)
    colour = APPROVED_COLOUR if p.source == "approved" else PREDICTED_COLOUR
    unit = _unit_suffix(series.unit)
    parts = []
    if p.reading.p2_5 is not None and p.reading.p97_5 is not None and p.reading.p97_5 > p.reading.p2_5:
        y0, y1 = frame.y(p.reading.p2_5), frame.y(p.reading.p97_5)
        parts.append(f'<g class="error-bar" stroke="{colour}" stroke-width="1.4">'
                     f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y0:.1f}" y2="{y1:.1f}"/>'
                     f'<line x1="{x - 4:.1f}" x2="{x + 4:.1f}" y1="{y0:.1f}" y2="{y0:.1f}"/>'
                     f'<line x1="{x - 4:.1f}" x2="{x + 4:.1f}" y1="{y1:.1f}" y2="{y1:.1f}"/></g>')
    tooltip = (f"{p.visit_date.isoformat()} · {p.source} · {_fmt(p.reading.value)}{unit}"
               + ("" if p.change is None else f" · change {p.change:+.1f}{unit}")
               + f" · {p.classification.message}")
    if p.classification.out_of_range:
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="8" fill="none" stroke="{OUT_OF_RANGE_COLOUR}" '
                     'stroke-width="1.6"/>')
    if p.source == "approved":
        marker = f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4.5" fill="{colour}" stroke="#fff" stroke-width="1"/>'
    else:
        marker = (f'<polygon points="{_diamond(x, y, 5.5)}" fill="#fff" stroke="{colour}" stroke-width="2"/>')
    parts.append(f'<g class="point point-{p.source}"><title>{escape(tooltip)}</title>{marker}</g>')
    parts.append(f'<text x="{x + 8:.1f}" y="{y - 7:.1f}" {_FONT} fill="{colour}">'
                 f"{escape(_fmt(p.reading.value))}</text>")
    return parts


def bland_altman_svg(result: BlandAltman, *, unit: str, label_a: str, label_b: str,
                     width: int = 420, height: int = 260) -> str:
    """Bland–Altman plot: differences ``a - b`` against means, with the bias and 95% limits (LoA).

    Parameters
    ----------
    result : BlandAltman
        From :func:`clinical.core.agreement.bland_altman`.
    unit : str
        ``"deg"``, ``"mm"`` or ``"px"``.
    label_a, label_b : str
        Names of the two raters (``a - b``).

    Returns
    -------
    str
        A standalone ``<svg>`` element.
    """
    means, diffs = result.means, result.differences
    x_lo, x_hi = min(means), max(means)
    x_pad = max(0.08 * (x_hi - x_lo), 0.5)
    y_values = list(diffs) + [result.loa_low, result.loa_high, 0.0]
    y_lo, y_hi = min(y_values), max(y_values)
    y_pad = max(0.15 * (y_hi - y_lo), 0.5)
    frame = _Frame(width, height, x_lo - x_pad, x_hi + x_pad, y_lo - y_pad, y_hi + y_pad, right=84.0)
    suffix = _unit_suffix(unit)
    title = f"{label_a} − {label_b}"
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
             'class="bland-altman">', f"<title>{escape(title)}</title>"]
    parts += _axes(frame, [t for t in nice_ticks(frame.y_lo, frame.y_hi) if frame.y_lo <= t <= frame.y_hi],
                   f"difference ({suffix.strip()})")
    for tick in nice_ticks(frame.x_lo, frame.x_hi):
        if frame.x_lo <= tick <= frame.x_hi:
            x = frame.x(tick)
            parts.append(f'<text x="{x:.1f}" y="{frame.plot_bottom + 16:.1f}" text-anchor="middle" {_FONT}>'
                         f'{escape(f"{tick:g}")}</text>')
    parts.append(f'<text x="{(frame.plot_left + frame.plot_right) / 2:.1f}" y="{height - 6}" text-anchor="middle" '
                 f'{_FONT}>mean of the two ({escape(suffix.strip())})</text>')
    zero = frame.y(0.0)
    parts.append(f'<line x1="{frame.plot_left:.1f}" x2="{frame.plot_right:.1f}" y1="{zero:.1f}" y2="{zero:.1f}" '
                 'stroke="#b9c0cc"/>')
    for value, name, dash in ((result.bias, "bias", ""), (result.loa_high, "+LoA", ' stroke-dasharray="5 4"'),
                              (result.loa_low, "−LoA", ' stroke-dasharray="5 4"')):
        y = frame.y(value)
        parts.append(f'<line x1="{frame.plot_left:.1f}" x2="{frame.plot_right:.1f}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'stroke="{APPROVED_COLOUR}"{dash}/>')
        parts.append(f'<text x="{frame.plot_right + 4:.1f}" y="{y + 4:.1f}" {_FONT}>'
                     f"{escape(name)} {escape(f'{value:.2f}')}</text>")
    for m, d in zip(means, diffs):
        parts.append(f'<circle cx="{frame.x(m):.1f}" cy="{frame.y(d):.1f}" r="3.5" fill="{PREDICTED_COLOUR}" '
                     'fill-opacity="0.8"/>')
    parts.append("</svg>")
    return "".join(parts)


def overlay_svg(legs: Sequence[Mapping[str, Any]], *, width: int, height: int,
                labels: Mapping[str, Mapping[str, Sequence[str]]]) -> str:
    """An SVG in image pixel coordinates to lay over a radiograph: axes, joint lines, angle labels.

    Parameters
    ----------
    legs : sequence of mapping
        Per leg ``{"image_side", "joints": {"hip", "knee", "ankle"}, "lines": {name: [[x, y], [x, y]] | None}}``
        (see :func:`clinical.selectors.measurements.measurement_overlay`).
    width, height : int
        Image size in pixels; the SVG ``viewBox`` is ``0 0 width height``.
    labels : mapping
        Per image side, per joint (``hip``/``knee``/``ankle``), the text lines to write beside it.

    Returns
    -------
    str
        An ``<svg>`` element that stretches over its positioned container.
    """
    font = max(10.0, height / 85.0)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" class="overlay" '
             'preserveAspectRatio="none">']
    for leg in legs:
        # A joint outside the image (a cut film) is absent: no mechanical axis through it.
        joints = {name: [float(v) for v in leg["joints"][name]] for name in ("hip", "knee", "ankle")
                  if name in leg["joints"]}
        stroke = 'vector-effect="non-scaling-stroke" fill="none"'
        if "hip" in joints and "ankle" in joints:
            (hx, hy), (ax, ay) = joints["hip"], joints["ankle"]
            parts.append(f'<line x1="{hx:.1f}" y1="{hy:.1f}" x2="{ax:.1f}" y2="{ay:.1f}" stroke="#ffd23f" '
                         f'stroke-width="1.5" stroke-dasharray="6 5" {stroke}/>')
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in joints.values())
        parts.append(f'<polyline points="{points}" stroke="#35c4f0" stroke-width="2" {stroke}/>')
        kx = joints["knee"][0] if "knee" in joints else width / 2
        for segment in (leg.get("lines") or {}).values():
            if segment:
                (x0, y0), (x1, y1) = segment
                parts.append(f'<line x1="{x0:.1f}" y1="{y0:.1f}" x2="{x1:.1f}" y2="{y1:.1f}" stroke="#ff5fa2" '
                             f'stroke-width="2.5" {stroke}/>')
        outward = -1.0 if kx < width / 2 else 1.0
        anchor = "end" if outward < 0 else "start"
        for name, (x, y) in joints.items():
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{font / 3:.1f}" fill="#fff"/>')
            lines = (labels.get(str(leg.get("image_side"))) or {}).get(name) or ()
            for i, text in enumerate(lines):
                ty = y + (i - (len(lines) - 1) / 2) * font * 1.25
                parts.append(f'<text x="{x + outward * font * 2:.1f}" y="{ty:.1f}" text-anchor="{anchor}" '
                             f'dominant-baseline="middle" font-family="system-ui, sans-serif" font-size="{font:.1f}" '
                             f'fill="#fff" stroke="#000" stroke-width="{font / 5:.1f}" paint-order="stroke">'
                             f"{escape(text)}</text>")
    parts.append("</svg>")
    return "".join(parts)
