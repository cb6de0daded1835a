"""ICC, SEM and Bland–Altman against published and hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from clinical.core.agreement import agreement, bland_altman, complete_rows, icc, two_way_anova

# Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges.
SHROUT_FLEISS = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]],
                         dtype=float)


def test_anova_mean_squares_match_shrout_fleiss_table_3() -> None:
    table = two_way_anova(SHROUT_FLEISS)
    # Published: BMS 11.24, JMS 32.49, EMS 1.02 (df 5, 3, 15).
    assert (table.n_targets, table.n_raters) == (6, 4)
    assert table.ms_targets == pytest.approx(11.24, abs=0.005)
    assert table.ms_raters == pytest.approx(32.49, abs=0.005)
    assert table.ms_error == pytest.approx(1.02, abs=0.005)


def test_icc_matches_shrout_fleiss_published_values() -> None:
    result = icc(SHROUT_FLEISS)
    assert round(result.icc2_1, 2) == 0.29
    assert round(result.icc3_1, 2) == 0.71
    # Exact values from the mean squares: (BMS - EMS) / (BMS + 3 EMS + 4 (JMS - EMS) / 6) etc.
    assert result.icc2_1 == pytest.approx(0.2897638, abs=1e-6)
    assert result.icc3_1 == pytest.approx(0.7148407, abs=1e-6)


def test_icc_confidence_intervals_match_the_reference_computation() -> None:
    # R psych::ICC(Shrout-Fleiss data): ICC2 0.019-0.76, ICC3 0.34-0.95.
    result = icc(SHROUT_FLEISS)
    assert result.icc2_1_ci95 == pytest.approx((0.0188, 0.7611), abs=5e-4)
    assert result.icc3_1_ci95 == pytest.approx((0.3425, 0.9459), abs=5e-4)


def test_bland_altman_of_judges_1_and_2_by_hand() -> None:
    # d = [7, 5, 4, 6, 5, 4]: mean 31/6, SD sqrt(6.8333/5) = 1.16905
    result = bland_altman(SHROUT_FLEISS[:, 0], SHROUT_FLEISS[:, 1])
    assert result.n == 6
    assert result.bias == pytest.approx(31 / 6)
    assert result.sd_difference == pytest.approx(math.sqrt(41 / 30))
    assert result.loa_low == pytest.approx(31 / 6 - 1.959964 * math.sqrt(41 / 30), abs=1e-5)
    assert result.loa_high == pytest.approx(31 / 6 + 1.959964 * math.sqrt(41 / 30), abs=1e-5)
    assert result.differences == (7.0, 5.0, 4.0, 6.0, 5.0, 4.0)
    assert result.means[0] == pytest.approx(5.5)


def test_sem_both_definitions() -> None:
    result = agreement(SHROUT_FLEISS)
    assert result.sem == pytest.approx(math.sqrt(two_way_anova(SHROUT_FLEISS).ms_error))
    sd_pooled = SHROUT_FLEISS.std(ddof=1)
    assert result.sd_pooled == pytest.approx(sd_pooled)
    assert result.sem_from_icc == pytest.approx(sd_pooled * math.sqrt(1 - 0.2897638), abs=1e-5)
    assert result.sem95 == pytest.approx(1.959964 * result.sem, abs=1e-6)
    assert result.mdc95 == pytest.approx(1.959964 * math.sqrt(2) * result.sem, abs=1e-6)
    assert result.bland_altman is None  # four raters: Bland–Altman is pairwise only


def test_two_raters_get_bland_altman_and_incomplete_rows_are_dropped() -> None:
    ratings = np.array([[1.0, 1.5], [2.0, 2.0], [np.nan, 3.0], [4.0, 4.5]])
    assert complete_rows(ratings).shape == (3, 2)
    result = agreement(ratings)
    assert result.n_targets == 3 and result.bland_altman is not None
    assert result.bland_altman.bias == pytest.approx(-1 / 3)


def test_perfect_agreement_and_degenerate_input() -> None:
    same = np.array([[1.0, 1.0], [2.0, 2.0], [5.0, 5.0]])
    result = icc(same)
    assert result.icc2_1 == pytest.approx(1.0) and result.icc3_1 == pytest.approx(1.0)
    assert result.icc2_1_ci95 is None  # no error variance: the interval is undefined
    constant = icc(np.ones((3, 2)))
    assert constant.icc2_1 is None and constant.icc3_1 is None
    with pytest.raises(ValueError):
        icc([[1.0, 2.0]])
    with pytest.raises(ValueError):
        icc([[1.0, np.nan], [2.0, 3.0]])
    with pytest.raises(ValueError):
        bland_altman([1.0], [2.0])
