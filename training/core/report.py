"""Report tables for the segmentation ensemble, in the layout of Table II of the paper (§7).

Table II lists, per view (front / side) and bone (femur / tibia), ``mean ± SD`` of the IOU of each
method. Following §7, the reproduced cells are the mean and the sample SD (ddof = 1) over the
(fold, part) **pooled** IOUs of the nested scheme (16 values with F = P = 4); the per-image table
gives the same statistics over individual held-out images. Rows are ordered as the stacking code
prints them: ``stacking``, the majority row, then the members in fixed order. Values keep full
precision until formatting, where they are rounded to ``decimals`` (4 in the paper).

All functions return strings (Markdown pipe tables); nothing is printed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from inference.core.segmentation_ensemble import DEFAULT_MODEL_ORDER

STACKING = "stacking"
_VIEW_ORDER = ("front", "side")
_BONE_ORDER = ("femur", "tibia")


def majority_name(n_members: int) -> str:
    """Row name of the majority vote of K members (``"majority (>3)"`` for K = 6)."""
    return f"majority (>{n_members // 2})"


@dataclass(frozen=True)
class IouRecord:
    """IOU values of one cell of the table.

    Attributes
    ----------
    view : str
        ``"front"`` or ``"side"`` (any other string becomes an extra column group).
    method : str
        Row name (``"stacking"``, ``"majority (>3)"``, a member name, ...).
    bone : str
        ``"femur"`` or ``"tibia"``.
    values : tuple of float
        IOUs (pooled per (fold, part), or per image).
    """

    view: str
    method: str
    bone: str
    values: tuple[float, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", tuple(float(v) for v in self.values))


@dataclass(frozen=True)
class CellStats:
    """Summary of one cell: mean, sample SD (ddof = 1; NaN for n < 2), median and n."""

    mean: float
    sd: float
    median: float
    n: int


def cell_stats(values: ArrayLike) -> CellStats:
    """Mean, sample SD (ddof = 1), median and count of finite ``values``.

    Raises
    ------
    ValueError
        If no finite value is given.
    """
    arr = np.asarray(values, dtype=np.float64).ravel()
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        raise ValueError("a cell needs at least one finite value")
    sd = float(np.std(arr, ddof=1)) if arr.size > 1 else float("nan")
    return CellStats(float(np.mean(arr)), sd, float(np.median(arr)), int(arr.size))


def _ordered(items: Iterable[str], preferred: Sequence[str]) -> list[str]:
    seen = list(dict.fromkeys(items))
    head = [p for p in preferred if p in seen]
    return head + [s for s in seen if s not in head]


def _index(rows: Iterable[IouRecord]) -> dict[tuple[str, str, str], IouRecord]:
    table: dict[tuple[str, str, str], IouRecord] = {}
    for r in rows:
        key = (r.method, r.view, r.bone)
        if key in table:
            raise ValueError(f"duplicate record for method={r.method!r} view={r.view!r} bone={r.bone!r}")
        table[key] = r
    return table


def _row_order(methods: Iterable[str], member_order: Sequence[str]) -> list[str]:
    methods = list(dict.fromkeys(methods))
    majority = [m for m in methods if m.startswith("majority")]
    preferred = [STACKING] + majority + list(member_order)
    return _ordered(methods, preferred)


def _render(
    rows: Sequence[IouRecord],
    *,
    member_order: Sequence[str],
    views: Sequence[str] | None,
    decimals: int,
    bold_best: bool,
    with_median: bool,
) -> str:
    if not rows:
        raise ValueError("no records to tabulate")
    table = _index(rows)
    view_list = list(views) if views is not None else _ordered((r.view for r in rows), _VIEW_ORDER)
    columns = [(v, b) for v in view_list for b in _BONE_ORDER]
    methods = _row_order((r.method for r in rows), member_order)
    stats = {
        (m, v, b): cell_stats(table[(m, v, b)].values)
        for m in methods
        for v, b in columns
        if (m, v, b) in table
    }
    best = {
        col: max(round(stats[(m,) + col].mean, decimals) for m in methods if (m,) + col in stats)
        for col in columns
        if any((m,) + col in stats for m in methods)
    }

    def cell(m: str, col: tuple[str, str]) -> str:
        s = stats.get((m,) + col)
        if s is None:
            return "—"
        sd = "n/a" if not np.isfinite(s.sd) else f"{s.sd:.{decimals}f}"
        text = f"{s.mean:.{decimals}f} ± {sd}"
        if bold_best and round(s.mean, decimals) == best[col] and len(methods) > 1:
            text = f"**{text}**"
        if with_median:
            text += f" (median {s.median:.{decimals}f}, n={s.n})"
        return text

    header = ["Method"] + [f"{v.capitalize()} {b}" for v, b in columns]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["---:"] * len(columns)) + "|",
    ]
    for m in methods:
        lines.append("| " + " | ".join([m] + [cell(m, col) for col in columns]) + " |")
    return "\n".join(lines)


def table_ii(
    rows: Iterable[IouRecord],
    *,
    member_order: Sequence[str] = DEFAULT_MODEL_ORDER,
    views: Sequence[str] | None = None,
    decimals: int = 4,
    bold_best: bool = True,
) -> str:
    """Format pooled (fold, part) IOUs as Table II: ``mean ± sd`` per method, view and bone.

    Parameters
    ----------
    rows : iterable of IouRecord
        One record per (view, method, bone); ``values`` are the pooled IOUs of the (fold, part)
        test sets (e.g. :meth:`training.core.stacking.HeldOutEvaluation.records`).
    member_order : sequence of str
        Fixed order of the member rows after ``stacking`` and the majority row.
    views : sequence of str, optional
        Column groups; default: the views present, front before side.
    decimals : int
        Rounding of the displayed numbers (4 as in the paper).
    bold_best : bool
        Bold the best mean of each column (Markdown ``**``), as the paper does.

    Returns
    -------
    str
        A Markdown table; missing cells are ``—``; an SD over fewer than 2 values is ``n/a``.
    """
    return _render(
        list(rows), member_order=member_order, views=views, decimals=decimals,
        bold_best=bold_best, with_median=False,
    )


def per_image_table(
    rows: Iterable[IouRecord],
    *,
    member_order: Sequence[str] = DEFAULT_MODEL_ORDER,
    views: Sequence[str] | None = None,
    decimals: int = 4,
) -> str:
    """Format per-image IOUs in the Table II layout: ``mean ± sd (median m, n=N)`` per cell.

    Parameters
    ----------
    rows : iterable of IouRecord
        ``values`` are per-image IOUs (e.g. ``HeldOutEvaluation.records(view, per_image=True)``).
    member_order, views, decimals :
        As in :func:`table_ii`.

    Returns
    -------
    str
        A Markdown table.
    """
    return _render(
        list(rows), member_order=member_order, views=views, decimals=decimals,
        bold_best=False, with_median=True,
    )


def parse_markdown_table(text: str) -> tuple[list[str], list[list[tuple[str, bool]]]]:
    """The header and rows of a Markdown table as :func:`table_ii` writes it, for display as a real table.

    Returns
    -------
    header : list of str
    rows : list of list of (str, bool)
        Each cell's text without the ``**`` markers, and whether it was bold (the column's best).

    Raises
    ------
    ValueError
        ``text`` has no header line and separator line.
    """
    lines = [line.strip() for line in text.strip().splitlines() if line.strip().startswith("|")]
    if len(lines) < 2 or not set(lines[1].replace("|", "").strip()) <= set("-: "):
        raise ValueError("not a Markdown table")

    def cells(line: str) -> list[str]:
        return [cell.strip() for cell in line.strip("|").split("|")]

    rows = []
    for line in lines[2:]:
        row = []
        for cell in cells(line):
            bold = cell.startswith("**") and cell.endswith("**") and len(cell) > 4
            row.append((cell[2:-2] if bold else cell, bold))
        rows.append(row)
    return cells(lines[0]), rows
