"""Charts of stored training and comparison results, as inline SVG (see :mod:`training.core.plots`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from inference.core.alignment import METRIC_NAMES
from training.core.plots import PALETTE, BlandAltmanGroup, LineSeries, bland_altman_svg, line_chart_svg

VERSION_COLOURS = {"candidate": PALETTE[0], "baseline": PALETTE[1]}


def ordered_metric_names(names: Iterable[str]) -> list[str]:
    """Alignment metric names in the contract's order (architecture.md §6), unknown names last."""
    rank = {name: k for k, name in enumerate(METRIC_NAMES)}
    return sorted(set(names), key=lambda name: (rank.get(name, len(rank)), name))


def loss_curve_svg(loss_history: Sequence[Mapping[str, Any]]) -> str | None:
    """Per-epoch training loss, one line per (fold, member), one colour per member; None without events."""
    series: dict[tuple[Any, Any], list[tuple[float, float]]] = {}
    for event in loss_history:
        if event.get("epoch") is None or event.get("loss") is None:
            continue
        series.setdefault((event.get("fold"), event.get("member")), []).append(
            (float(event["epoch"]), float(event["loss"])))
    if not series:
        return None
    members = list(dict.fromkeys(member for _, member in series))
    lines, legend_done = [], set()
    for (_, member), points in series.items():
        lines.append(LineSeries(label=str(member), points=points,
                                colour=PALETTE[members.index(member) % len(PALETTE)],
                                show_in_legend=member not in legend_done))
        legend_done.add(member)
    return line_chart_svg(lines, title="Training loss per epoch (one line per fold and member)",
                          x_label="epoch", y_label="loss")


def bland_altman_svgs(metrics: Mapping[str, Any]) -> dict[str, str]:
    """One Bland–Altman SVG per alignment metric of a comparison's ``metrics``, both versions overlaid."""
    versions = {role: metrics[role] for role in ("candidate", "baseline") if isinstance(metrics.get(role), Mapping)}
    names = ordered_metric_names(name for summary in versions.values() for name in summary.get("angles", {}))
    charts = {}
    for name in names:
        groups = []
        for role, summary in versions.items():
            stats = summary["angles"].get(name)
            if not stats or not stats["pairs"]:
                continue
            points = [((p + r) / 2.0, p - r) for p, r in stats["pairs"]]
            groups.append(BlandAltmanGroup(label=f"{role} #{summary['ensemble']}", points=points, bias=stats["bias"],
                                           loa_low=stats["loa_low"], loa_high=stats["loa_high"],
                                           colour=VERSION_COLOURS[role]))
        if groups:
            charts[name] = bland_altman_svg(groups, title=f"{name}: ensemble vs approved",
                                            unit=metrics.get("units", {}).get(name, ""))
    return charts
