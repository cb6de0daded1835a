"""The one-page A4 report of one image of a case, drawn with matplotlib (no pyplot, no display).

Layout (portrait A4): a header (patient, visit, age, image, reviewer, model version, generation
date), the radiograph with the overlay of mechanical axes, joint lines and angle labels on the left,
the metrics table (one column per leg, the normal range and its source, out-of-range values in red)
and the lengths with their unit on the right, then the calibration notice, plausibility flags and the
references. Lengths are in mm only when the image is calibrated (:func:`present_lengths`).
"""

from __future__ import annotations

import io
import textwrap
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from numpy.typing import NDArray

from clinical.core.normal_ranges import METRIC_LABELS
from clinical.selectors.reports import CaseReport, ImageReport, MetricRow

__all__ = ["A4_INCHES", "report_figure", "report_pdf_bytes"]

A4_INCHES = (8.27, 11.69)
_OUT_OF_RANGE = "#c0262d"
_MUTED = "#5b6375"
_AXIS_COLOURS = {"mechanical": "#ffd23f", "bone": "#35c4f0", "joint_line": "#ff5fa2"}
_TEXT_BOX = {"boxstyle": "round,pad=0.2", "facecolor": "black", "alpha": 0.6, "edgecolor": "none"}


def _leg_title(leg: str) -> str:
    return {"right": "Right", "left": "Left"}.get(leg, leg.replace("image-", "image ").capitalize())


def _draw_overlay(ax: Axes, image_report: ImageReport, pixels: NDArray[np.uint8]) -> None:
    image = image_report.image
    ax.imshow(pixels, cmap="gray", extent=(0, image.width, image.height, 0), interpolation="lanczos")
    ax.set_xlim(0, image.width)
    ax.set_ylim(image.height, 0)
    ax.set_axis_off()
    labels = image_report.overlay_labels()
    for leg in image_report.overlay:
        joints = {name: np.asarray(leg["joints"][name]) for name in ("hip", "knee", "ankle")}
        hip, knee, ankle = joints["hip"], joints["knee"], joints["ankle"]
        ax.plot([hip[0], ankle[0]], [hip[1], ankle[1]], ls="--", lw=0.9, color=_AXIS_COLOURS["mechanical"])
        ax.plot([hip[0], knee[0], ankle[0]], [hip[1], knee[1], ankle[1]], lw=1.1, color=_AXIS_COLOURS["bone"])
        for segment in leg["lines"].values():
            if segment is not None:
                (x0, y0), (x1, y1) = segment
                ax.plot([x0, x1], [y0, y1], lw=1.4, color=_AXIS_COLOURS["joint_line"])
        ax.scatter([hip[0], knee[0], ankle[0]], [hip[1], knee[1], ankle[1]], s=10, color="white", zorder=3)
        # Labels go toward the image edge nearest the leg, so two legs' labels never overlap.
        outward = -1.0 if knee[0] < image.width / 2 else 1.0
        for joint, lines in labels.get(str(leg["image_side"]), {}).items():
            if lines:
                anchor = joints[joint]
                ax.text(anchor[0] + outward * 0.04 * image.width, anchor[1], "\n".join(lines), color="white",
                        fontsize=5.5, ha="right" if outward < 0 else "left", va="center", bbox=_TEXT_BOX)


def _header(fig: Figure, report: CaseReport, image_report: ImageReport) -> None:
    case = report.case
    patient = case.patient
    age = "unknown" if report.age_years is None else f"{report.age_years:g} y"
    fig.text(0.05, 0.965, "Lower-limb alignment report", fontsize=15, weight="bold")
    fig.text(0.95, 0.967, f"generated {report.generated_at:%Y-%m-%d %H:%M} UTC", fontsize=7, ha="right",
             color=_MUTED)
    lines = [
        f"Patient {patient.code} · cohort {patient.get_cohort_display()} · age at visit {age}",
        f"Visit {case.acquisition_date or 'undated'} · {case.view} · image {image_report.image.original_name}",
        f"Measurement: {image_report.measurement.source} — {image_report.measurement.description}",
        f"Reviewer: {image_report.reviewer} · Model version: {image_report.model_version}",
    ]
    fig.text(0.05, 0.948, "\n".join(lines), fontsize=7.5, va="top", linespacing=1.5)


def _value_text(row: MetricRow) -> str:
    """``"130.9° ±1.2 ▲"``: the value, its Monte-Carlo SD when not zero, and the out-of-range mark."""
    spread = f" ±{row.reading.sd:.1f}" if row.reading.sd else ""
    return row.value_text + spread + {"low": " ▼", "high": " ▲"}.get(row.classification.status, "")


def _table(ax: Axes, image_report: ImageReport, citation_numbers: dict[str, int], *, top: float) -> float:
    """Draw the metrics table (one row per metric, one column per leg, the normal range); returns the y below."""
    legs = image_report.legs
    metrics: list[str] = []
    for leg in legs:
        metrics += [row.metric for row in leg.rows if row.metric not in metrics]
    by_leg = [{row.metric: row for row in leg.rows} for leg in legs]
    leg_width = 0.2
    range_x = 0.29 + leg_width * len(legs)
    y, step = top, 0.025
    ax.text(0, y, "Metric", weight="bold", fontsize=7.5, va="top")
    for i, leg in enumerate(legs):
        ax.text(0.29 + leg_width * i, y, _leg_title(leg.leg), weight="bold", fontsize=7.5, va="top")
    ax.text(range_x, y, "Normal range", weight="bold", fontsize=7.5, va="top")
    y -= step
    ax.plot([0, 1], [y + 0.005, y + 0.005], color="#b9c0cc", lw=0.6)
    for metric in metrics:
        ax.text(0, y, METRIC_LABELS.get(metric, metric), fontsize=7.5, va="top")
        reference = None
        for i, rows in enumerate(by_leg):
            row = rows.get(metric)
            if row is None:
                continue
            out = row.classification.out_of_range
            ax.text(0.29 + leg_width * i, y, _value_text(row), fontsize=7.5, va="top",
                    color=_OUT_OF_RANGE if out else "black", weight="bold" if out else "normal")
            reference = reference or row.classification.reference
        if reference is None:
            reference_text = "—"
        else:
            numbers = ",".join(str(citation_numbers[key]) for key in reference.citation_keys)
            reference_text = f"{reference.range_text()} [{numbers}]"
        ax.text(range_x, y, reference_text, fontsize=6.5, va="top", color=_MUTED)
        y -= step
    return y


def _wrapped(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width=width))


def _notes(ax: Axes, image_report: ImageReport, *, top: float) -> None:
    lengths = image_report.lengths
    blocks: list[tuple[str, dict[str, Any]]] = []
    difference = image_report.leg_length_difference_text
    blocks.append((f"Lengths in {lengths.unit}" + (f" · leg-length difference {difference}" if difference else ""),
                   {"fontsize": 7, "weight": "bold"}))
    scale = lengths.scale
    notice = lengths.notice or f"{scale.method.replace('_', ' ')}, {scale.pixel_spacing_mm:.4f} mm/px"
    blocks.append((_wrapped("Calibration: " + notice, 75),
                   {"fontsize": 6.5, "color": _OUT_OF_RANGE if lengths.notice else _MUTED}))
    if image_report.flags:
        text = "Plausibility flags: " + "; ".join(f"{f.leg or 'image'} {f.code}" for f in image_report.flags)
        blocks.append((_wrapped(text, 80), {"fontsize": 6.5, "color": _OUT_OF_RANGE}))
    blocks.append((_wrapped("▲/▼ outside the normal range for the age; — no cited range for this age. "
                            "±: SD of the Monte-Carlo spread, where it is not zero. HKA deviation: varus "
                            "negative; MAD: positive when the axis passes medial to the knee. Overlay: dashed "
                            "yellow hip–ankle mechanical axis, blue femoral and tibial mechanical axes, pink "
                            "joint lines.", 90),
                   {"fontsize": 5.8, "color": _MUTED}))
    y = top - 0.015
    for text, style in blocks:
        ax.text(0, y, text, va="top", **style)
        y -= 0.014 * (text.count("\n") + 1) + 0.01


def _references(fig: Figure, report: CaseReport) -> None:
    lines = [_wrapped(f"[{i}] {text}", 150) for i, (_, text) in enumerate(report.citations, start=1)]
    fig.text(0.05, 0.075, "References\n" + "\n".join(lines), fontsize=5.2, va="bottom", color=_MUTED,
             linespacing=1.35)
    fig.text(0.05, 0.03, "enLLASD web · measurements are decision support and must be checked by a clinician.",
             fontsize=5.5, color=_MUTED)


def report_figure(report: CaseReport, image_report: ImageReport, pixels: NDArray[np.uint8]) -> Figure:
    """The report page as a matplotlib figure (A4 portrait)."""
    fig = Figure(figsize=A4_INCHES)
    _header(fig, report, image_report)
    image_ax = fig.add_axes((0.04, 0.17, 0.44, 0.68))
    _draw_overlay(image_ax, image_report, pixels)
    side_ax = fig.add_axes((0.52, 0.17, 0.45, 0.68))
    side_ax.set_axis_off()
    numbers = {key: i for i, (key, _) in enumerate(report.citations, start=1)}
    below_table = _table(side_ax, image_report, numbers, top=0.99)
    _notes(side_ax, image_report, top=below_table)
    side_ax.set_xlim(0, 1)
    side_ax.set_ylim(0, 1)
    _references(fig, report)
    return fig


def report_pdf_bytes(report: CaseReport, image_report: ImageReport, pixels: NDArray[np.uint8]) -> bytes:
    """The report page as a one-page PDF."""
    buffer = io.BytesIO()
    report_figure(report, image_report, pixels).savefig(buffer, format="pdf")
    return buffer.getvalue()

