"""The PDF report's joint labels never print over each other (issue 27, item 8: "HKA 179.8HKA 173.4°")."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from clinical.report_pdf import _renderer, place_label


def test_two_knee_labels_on_a_narrow_bilateral_film_do_not_overlap() -> None:
    fig = Figure(figsize=(2.0, 6.0), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 300)
    ax.set_ylim(1800, 0)
    renderer = _renderer(fig)
    placed: list = []
    right_knee = place_label(ax, np.array([120.0, 900.0]), "HKA 179.8° (0.2° varus)\nMPTA 88.1°", outward=-1.0,
                             placed=placed, renderer=renderer)
    left_knee = place_label(ax, np.array([180.0, 905.0]), "HKA 173.4° (6.6° varus)\nMPTA 83.0°", outward=1.0,
                            placed=placed, renderer=renderer)
    first, second = (label.get_window_extent(renderer) for label in (right_knee, left_knee))
    assert not first.overlaps(second)
    frame = ax.get_window_extent(renderer)
    for box in (first, second):
        assert frame.x0 - 0.5 <= box.x0 and box.x1 <= frame.x1 + 0.5
