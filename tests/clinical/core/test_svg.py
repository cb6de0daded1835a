"""Server-side SVG charts: well-formed XML, escaped text, the marks the legend promises."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date

from clinical.core.agreement import bland_altman
from clinical.core.svg import bland_altman_svg, nice_ticks, overlay_svg, timeline_svg
from clinical.core.timeline import MetricReading, Visit, build_series

SVG = "{http://www.w3.org/2000/svg}"


def _series():
    visits = [
        Visit(date(2022, 1, 1), 1, 1, "approved", 10.0, {"right": {"MPTA": MetricReading(88.0, "deg")}}),
        Visit(date(2023, 1, 1), 2, 2, "predicted", 11.0,
              {"right": {"MPTA": MetricReading(82.0, "deg", 0.5, 81.0, 83.0)}}),
    ]
    [series] = build_series(visits)
    return series


def test_timeline_chart_marks() -> None:
    root = ET.fromstring(timeline_svg(_series()))
    assert root.tag == f"{SVG}svg" and root.get("data-metric") == "MPTA"
    assert len(root.findall(f".//{SVG}g[@class='point point-approved']")) == 1
    assert len(root.findall(f".//{SVG}g[@class='point point-predicted']")) == 1
    assert len(root.findall(f".//{SVG}g[@class='error-bar']")) == 1  # only the point with a spread
    assert len(root.findall(f".//{SVG}rect[@class='normal-band']")) == 2
    ring = [c for c in root.iter(f"{SVG}circle") if c.get("stroke") == "#c0262d"]
    assert len(ring) == 1  # MPTA 82 is below 85-90 at 11 years


def test_bland_altman_chart_and_overlay_escape_text() -> None:
    result = bland_altman([1.0, 2.0, 3.5], [1.5, 2.0, 3.0])
    root = ET.fromstring(bland_altman_svg(result, unit="deg", label_a="<a&b>", label_b="c"))
    assert root.find(f"{SVG}title").text == "<a&b> − c"
    legs = [{"image_side": "left", "joints": {"hip": [10, 10], "knee": [12, 50], "ankle": [14, 90]},
             "lines": {"femoral_joint_line": [[5, 48], [20, 49]], "plafond_line": None}}]
    overlay = ET.fromstring(overlay_svg(legs, width=100, height=100, labels={"left": {"knee": ["MPTA <9>"]}}))
    assert overlay.get("viewBox") == "0 0 100 100"
    assert [t.text for t in overlay.iter(f"{SVG}text")] == ["MPTA <9>"]


def test_nice_ticks() -> None:
    assert nice_ticks(0.0, 10.0) == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    assert nice_ticks(81.3, 89.2) == [82.0, 84.0, 86.0, 88.0]
