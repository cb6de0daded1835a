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
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from numpy.typing import NDArray

from clinical.selectors.reports import CaseReport, ImageReport

__all__ = ["A4_INCHES", "report_figure", "report_pdf_bytes"]

A4_INCHES = (8.27, 11.69)
_OUT_OF_RANGE = "#c0262d"
_MUTED = "#5b6375"
_AXIS_COLOURS = {"mechanical": "#ffd23f", "bone": "#35c4f0", "joint_line": "#ff5fa2"}
_TEXT_BOX = {"boxstyle": "round,pad=0.2", "facecolor": "black", "alpha": 0.6, "edgecolor": "none"}


def _fits(ax: Axes, text: Text, renderer: Any) -> bool:
    """Whether ``text`` lies inside ``ax`` (display coordinates)."""
    box, frame = text.get_window_extent(renderer), ax.get_window_extent(renderer)
    return box.x0 >= frame.x0 - 0.5 and box.x1 <= frame.x1 + 0.5 and box.y0 >= frame.y0 - 0.5 and box.y1 <= frame.y1 + 0.5


def _draw_overlay(ax: Axes, image_report: ImageReport, pixels: NDArray[np.uint8]) -> None:
    image = image_report.image
    ax.imshow(pixels, cmap="gray", extent=(0, image.width, image.height, 0), interpolation="lanczos")
    ax.set_xlim(0, image.width)
    ax.set_ylim(image.height, 0)
    ax.set_axis_off()
    labels = image_report.overlay_labels()
    renderer = _renderer(ax.figure)
    placed: list[Any] = []  # display boxes of the labels drawn so far, of every leg
    for leg in image_report.overlay:
        # A joint outside the image (a cut film) is absent: no mechanical axis through it.
        joints = {name: np.asarray(leg["joints"][name]) for name in ("hip", "knee", "ankle") if name in leg["joints"]}
        if "hip" in joints and "ankle" in joints:
            ax.plot([joints["hip"][0], joints["ankle"][0]], [joints["hip"][1], joints["ankle"][1]], ls="--", lw=0.9,
                    color=_AXIS_COLOURS["mechanical"])
        ax.plot([p[0] for p in joints.values()], [p[1] for p in joints.values()], lw=1.1, color=_AXIS_COLOURS["bone"])
        for segment in leg["lines"].values():
            if segment is not None:
                (x0, y0), (x1, y1) = segment
                ax.plot([x0, x1], [y0, y1], lw=1.4, color=_AXIS_COLOURS["joint_line"])
        ax.scatter([p[0] for p in joints.values()], [p[1] for p in joints.values()], s=10, color="white", zorder=3)
        knee_x = joints["knee"][0] if "knee" in joints else image.width / 2
        outward = -1.0 if knee_x < image.width / 2 else 1.0
        for joint, lines in labels.get(str(leg["image_side"]), {}).items():
            if lines and joint in joints:
                place_label(ax, joints[joint], "\n".join(lines), outward=outward, placed=placed, renderer=renderer)


def place_label(ax: Axes, anchor: NDArray[np.float64], text: str, *, outward: float, placed: list[Any],
                renderer: Any) -> Text:
    """Draw a joint's label beside ``anchor`` where it is inside the image and clear of the labels ``placed``.

    Toward the image edge nearest the leg first (``outward``: -1 left, +1 right), else toward the middle, else
    centred on the joint and shifted inside the image; a label that still meets another one moves down
    (then up) by its own height until it is clear. On a narrow bilateral film both knees' labels went to
    the middle and printed over each other ("HKA 179.8HKA 173.4°", issue 27 item 8). ``placed`` gets its box.
    """
    width = abs(ax.get_xlim()[1] - ax.get_xlim()[0])
    style = {"color": "white", "fontsize": 5.5, "va": "center", "bbox": _TEXT_BOX, "clip_on": True}
    label = None
    for direction in (outward, -outward):
        label = ax.text(anchor[0] + direction * 0.04 * width, anchor[1], text, ha="right" if direction < 0 else "left",
                        **style)
        if _fits(ax, label, renderer) and not _overlaps(label, placed, renderer):
            placed.append(label.get_window_extent(renderer))
            return label
        label.remove()
    label = ax.text(anchor[0], anchor[1], text, ha="center", **style)
    _shift_inside(ax, label, renderer)
    start = label.get_position()
    step = label.get_window_extent(renderer).height * 1.1
    for offset in (k * sign for k in range(1, 20) for sign in (1, -1)):
        if not _overlaps(label, placed, renderer):
            break
        x, y = ax.transData.transform(start)
        label.set_position(ax.transData.inverted().transform((x, y - offset * step)))
    placed.append(label.get_window_extent(renderer))
    return label


def _overlaps(text: Text, placed: list[Any], renderer: Any) -> bool:
    box = text.get_window_extent(renderer)
    return any(box.overlaps(other) for other in placed)


def _shift_inside(ax: Axes, text: Text, renderer: Any) -> None:
    """Move ``text`` horizontally so that it lies inside ``ax``."""
    box, frame = text.get_window_extent(renderer), ax.get_window_extent(renderer)
    shift = max(0.0, frame.x0 - box.x0) - max(0.0, box.x1 - frame.x1)
    if shift:
        x, y = ax.transData.transform(text.get_position())
        text.set_position(ax.transData.inverted().transform((x + shift, y)))


def _renderer(fig: Figure) -> Any:
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    return fig.canvas.get_renderer()


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


_COLUMNS = ("Metric", "Value", "±SD", "Normal range", "Judgement")
_SHORT_LABELS = {"limb_length": "Mech. limb length"}  # the page is narrow; the HTML report says it in full


def _rows(image_report: ImageReport, citation_numbers: dict[str, int]) -> list[tuple[str, Any]]:
    """``("leg", title)`` and ``("metric", (cells, out_of_range))`` rows of the table, leg by leg."""
    out: list[tuple[str, Any]] = []
    for leg in image_report.legs:
        out.append(("leg", leg.title))
        for row in leg.rows:
            reference = row.classification.reference
            if reference is None:
                range_text = "—"
            else:
                numbers = ",".join(str(citation_numbers[key]) for key in reference.citation_keys)
                range_text = f"{reference.range_text()} [{numbers}]"
            sd = f"±{row.reading.sd:.1f}" if row.reading.sd else ""
            mark = {"low": " ▼", "high": " ▲"}.get(row.classification.status, "")
            cells = (_SHORT_LABELS.get(row.metric, row.label), row.value_text + mark, sd, range_text, row.status_text)
            out.append(("metric", (cells, row.classification.out_of_range)))
        for label, reason in leg.not_measurable:
            out.append(("metric", ((label, "not measurable", "", reason, "—"), False)))
    return out


def _table(ax: Axes, image_report: ImageReport, citation_numbers: dict[str, int], *, top: float) -> float:
    """Draw the metrics table, one block per leg (its patient side as the title), columns sized to
    their widest text so that nothing overlaps (issue 16, item 10); returns the y below it."""
    rows = _rows(image_report, citation_numbers)
    renderer = _renderer(ax.figure)
    frame = ax.get_window_extent(renderer)
    fontsize, pad = 7.0, 0.025
    for _ in range(12):  # shrink the font until the columns fit the width
        texts: list[list[Text]] = []
        widths = [0.0] * len(_COLUMNS)
        for kind, content in [("header", _COLUMNS), *rows]:
            if kind == "leg":
                continue
            cells = content if kind == "header" else content[0]
            line = [ax.text(0, 0, cell, fontsize=fontsize, va="top", weight="bold") for cell in cells]  # widest
            for i, text in enumerate(line):
                widths[i] = max(widths[i], text.get_window_extent(renderer).width / frame.width)
            texts.append(line)
        for line in texts:
            for text in line:
                text.remove()
        total = sum(widths) + pad * (len(widths) - 1)
        if total <= 1.0:
            break
        fontsize *= 0.92
    xs = [sum(widths[:i]) + pad * i for i in range(len(widths))]
    step = fontsize * 1.55 / 72 / (frame.height / ax.figure.dpi)
    y = top
    for i, title in enumerate(_COLUMNS):
        ax.text(xs[i], y, title, weight="bold", fontsize=fontsize, va="top")
    y -= step
    ax.plot([0, 1], [y + 0.2 * step, y + 0.2 * step], color="#b9c0cc", lw=0.6)
    for kind, content in rows:
        if kind == "leg":
            y -= 0.25 * step
            ax.text(0, y, content, weight="bold", fontsize=fontsize, va="top")
            y -= step
            continue
        cells, out = content
        for i, cell in enumerate(cells):
            red = out and i in (1, 4)
            ax.text(xs[i], y, cell, fontsize=fontsize if i != 3 else fontsize * 0.93, va="top",
                    color=_OUT_OF_RANGE if red else (_MUTED if i == 3 else "black"),
                    weight="bold" if red else "normal")
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
    if image_report.outside_intended_use:
        blocks.append((_wrapped(f"Outside intended use: no angles ({image_report.outside_intended_use})", 80),
                       {"fontsize": 7, "color": _OUT_OF_RANGE, "weight": "bold"}))
    if image_report.flags:
        text = "Plausibility flags: " + "; ".join(image_report.flag_texts)
        blocks.append((_wrapped(text, 80), {"fontsize": 6.5, "color": _OUT_OF_RANGE}))
    blocks.append((_wrapped("▲/▼ outside the normal range for the age; — no cited range for this age. "
                            "±: SD of the Monte-Carlo spread, where it is not zero. HKA: 180° minus the "
                            "deviation from straight, named varus or valgus; MAD: positive when the axis passes "
                            "medial to the knee. Overlay: dashed "
                            "yellow hip–ankle mechanical axis, blue femoral and tibial mechanical axes, pink "
                            "joint lines.", 90),
                   {"fontsize": 5.8, "color": _MUTED}))
    y = top - 0.015
    renderer = _renderer(ax.figure)
    frame = ax.get_window_extent(renderer)
    for text, style in blocks:
        placed = ax.text(0, y, text, va="top", **style)
        width = max(len(line) for line in text.split("\n"))
        while placed.get_window_extent(renderer).x1 > frame.x1 and width > 20:  # rewrap until it fits
            width = int(width * 0.9)
            placed.set_text(_wrapped(text.replace("\n", " "), width))
        height = placed.get_window_extent(renderer).height / frame.height
        y -= height + 0.01


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
    image_ax = fig.add_axes((0.04, 0.17, 0.40, 0.68))
    _draw_overlay(image_ax, image_report, pixels)
    side_ax = fig.add_axes((0.47, 0.17, 0.50, 0.68))
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

