"""Tests of training.core.report (§7, Table II layout)."""

from __future__ import annotations

import numpy as np
import pytest

from training.core.report import IouRecord, cell_stats, majority_name, per_image_table, table_ii


def _records() -> list[IouRecord]:
    return [
        IouRecord("front", "UNet", "femur", (0.80, 0.82)),
        IouRecord("front", "stacking", "femur", (0.95, 0.96)),
        IouRecord("front", "stacking", "tibia", (0.94, 0.95)),
        IouRecord("front", "majority (>3)", "femur", (0.94, 0.95)),
        IouRecord("front", "majority (>3)", "tibia", (0.96, 0.96)),
        IouRecord("front", "PSPNet", "femur", (0.90,)),
        IouRecord("side", "stacking", "tibia", (0.9, 0.92, 0.94)),
    ]


def test_table_ii_layout_and_values() -> None:
    text = table_ii(_records())
    lines = text.splitlines()
    assert lines[0] == "| Method | Front femur | Front tibia | Side femur | Side tibia |"
    assert lines[1] == "|---|---:|---:|---:|---:|"
    # Row order: stacking, majority, then members in the fixed model order (PSPNet before UNet).
    assert [line.split(" | ")[0][2:] for line in lines[2:]] == ["stacking", "majority (>3)", "PSPNet", "UNet"]
    sd = np.std([0.95, 0.96], ddof=1)
    assert lines[2] == (
        f"| stacking | **0.9550 ± {sd:.4f}** | 0.9450 ± {sd:.4f} | — | **0.9200 ± 0.0200** |"
    )
    assert lines[3] == f"| majority (>3) | 0.9450 ± {sd:.4f} | **0.9600 ± 0.0000** | — | — |"
    assert lines[4] == "| PSPNet | 0.9000 ± n/a | — | — | — |"


def test_per_image_table_and_no_bold() -> None:
    text = per_image_table([IouRecord("front", "stacking", "femur", (0.5, 0.7, 0.9)),
                            IouRecord("front", "KNet", "femur", (0.6, 0.6, 0.6))])
    lines = text.splitlines()
    assert lines[2] == "| stacking | 0.7000 ± 0.2000 (median 0.7000, n=3) | — |"
    assert lines[3] == "| KNet | 0.6000 ± 0.0000 (median 0.6000, n=3) | — |"
    assert "**" not in text


def test_cell_stats_and_errors() -> None:
    s = cell_stats([0.9, np.nan, 0.8])
    assert (s.mean, s.median, s.n) == (pytest.approx(0.85), pytest.approx(0.85), 2)
    assert s.sd == pytest.approx(np.std([0.9, 0.8], ddof=1))
    with pytest.raises(ValueError):
        cell_stats([np.nan])
    with pytest.raises(ValueError):
        table_ii([IouRecord("front", "x", "femur", (1.0,)), IouRecord("front", "x", "femur", (0.5,))])
    with pytest.raises(ValueError):
        table_ii([])
    assert majority_name(6) == "majority (>3)" and majority_name(5) == "majority (>2)"
