"""Inter-reader agreement: intraclass correlation, Bland–Altman limits of agreement, SEM.

Ratings are an ``(n, k)`` array: ``n`` targets (here: one leg of one image) rated by ``k`` readers
(or a reader and the model). Only complete rows are used (:func:`complete_rows`).

Two-way ANOVA (Shrout & Fleiss 1979, Table 1; McGraw & Wong 1996)::

    MSR = k * sum_i (mean_i. - mean..)^2 / (n - 1)           targets ("rows")
    MSC = n * sum_j (mean_.j - mean..)^2 / (k - 1)           readers ("columns")
    MSE = (SST - SSR - SSC) / ((n - 1)(k - 1))               residual

    ICC(2,1) = (MSR - MSE) / (MSR + (k - 1) MSE + k (MSC - MSE) / n)   two-way random, absolute
                                                                         agreement, single rater
    ICC(3,1) = (MSR - MSE) / (MSR + (k - 1) MSE)                        two-way mixed, consistency,
                                                                         single rater

95% confidence intervals: ICC(3,1) from the F distribution of MSR/MSE; ICC(2,1) with
Satterthwaite's degrees of freedom (McGraw & Wong 1996, Table 7, case 2A) — the intervals
R ``psych::ICC`` and ``pingouin.intraclass_corr`` report.

SEM (standard error of measurement), both reported:

* ``sem`` = sqrt(MSE): the within-target SD left after removing target and reader effects
  (Weir 2005); it does not depend on how different the targets are, so it is the one we show first;
* ``sem_from_icc`` = SD_pooled * sqrt(1 - ICC(2,1)) with SD_pooled the SD (ddof 1) of all ``n * k``
  ratings; it grows with a systematic reader bias (absolute agreement) and depends on the spread
  of the sample.

``sem95 = 1.96 * sem`` (the "SEM95%" of Braun et al. 2023) and the minimal detectable change
``mdc95 = 1.96 * sqrt(2) * sem``: a change between two visits smaller than this is within
measurement error.

Bland–Altman (Bland & Altman 1986): differences ``d = a - b``; bias = mean(d), limits of
agreement = bias ± 1.96 SD(d) (ddof 1), with the 95% confidence interval of the bias
(t distribution, n - 1 df).

References
----------
Shrout PE, Fleiss JL. Intraclass correlations: uses in assessing rater reliability. Psychol Bull.
1979;86(2):420-428.
McGraw KO, Wong SP. Forming inferences about some intraclass correlation coefficients. Psychol
Methods. 1996;1(1):30-46.
Bland JM, Altman DG. Statistical methods for assessing agreement between two methods of clinical
measurement. Lancet. 1986;1(8476):307-310.
Weir JP. Quantifying test-retest reliability using the intraclass correlation coefficient and the
SEM. J Strength Cond Res. 2005;19(1):231-240.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

__all__ = [
    "AgreementResult",
    "AnovaTable",
    "BlandAltman",
    "IccResult",
    "agreement",
    "bland_altman",
    "complete_rows",
    "icc",
    "two_way_anova",
]

Z95 = 1.959963984540054


@dataclass(frozen=True)
class AnovaTable:
    """Mean squares of the two-way ANOVA without replication (targets x raters)."""

    n_targets: int
    n_raters: int
    grand_mean: float
    ms_targets: float
    ms_raters: float
    ms_error: float


@dataclass(frozen=True)
class IccResult:
    """ICC(2,1) and ICC(3,1) with 95% confidence intervals (``None`` where undefined)."""

    icc2_1: float | None
    icc2_1_ci95: tuple[float, float] | None
    icc3_1: float | None
    icc3_1_ci95: tuple[float, float] | None
    anova: AnovaTable


@dataclass(frozen=True)
class BlandAltman:
    """Bias and 95% limits of agreement of ``a - b``; ``means``/``differences`` for the plot."""

    n: int
    bias: float
    sd_difference: float
    loa_low: float
    loa_high: float
    bias_ci95: tuple[float, float] | None
    means: tuple[float, ...]
    differences: tuple[float, ...]


@dataclass(frozen=True)
class AgreementResult:
    """Everything reported for one set of readers on one metric."""

    n_targets: int
    n_raters: int
    icc: IccResult
    sem: float
    sem_from_icc: float | None
    sd_pooled: float
    sem95: float
    mdc95: float
    bland_altman: BlandAltman | None


def _check_ratings(ratings: ArrayLike) -> NDArray[np.float64]:
    x = np.asarray(ratings, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"ratings must be a 2-D (targets, raters) array, got shape {x.shape}")
    n, k = x.shape
    if n < 2 or k < 2:
        raise ValueError(f"need at least 2 targets and 2 raters, got {n} x {k}")
    if not np.all(np.isfinite(x)):
        raise ValueError("ratings must be finite; drop incomplete rows with complete_rows() first")
    return x


def complete_rows(ratings: ArrayLike) -> NDArray[np.float64]:
    """The rows of an ``(n, k)`` array (NaN = missing) in which every rater gave a value."""
    x = np.asarray(ratings, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"ratings must be 2-D, got shape {x.shape}")
    return x[np.all(np.isfinite(x), axis=1)]


def two_way_anova(ratings: ArrayLike) -> AnovaTable:
    """Mean squares of the targets x raters ANOVA (one rating per cell).

    Raises
    ------
    ValueError
        Not a finite 2-D array of at least 2 x 2.
    """
    x = _check_ratings(ratings)
    n, k = x.shape
    grand = float(x.mean())
    ss_targets = k * float(((x.mean(axis=1) - grand) ** 2).sum())
    ss_raters = n * float(((x.mean(axis=0) - grand) ** 2).sum())
    ss_total = float(((x - grand) ** 2).sum())
    ss_error = max(ss_total - ss_targets - ss_raters, 0.0)  # clip round-off below zero
    return AnovaTable(n, k, grand, ss_targets / (n - 1), ss_raters / (k - 1), ss_error / ((n - 1) * (k - 1)))


def _icc3_ci(t: AnovaTable, alpha: float) -> tuple[float, float] | None:
    n, k = t.n_targets, t.n_raters
    if t.ms_error <= 0:
        return None
    f_obs = t.ms_targets / t.ms_error
    df1, df2 = n - 1, (n - 1) * (k - 1)
    f_low = f_obs / stats.f.ppf(1 - alpha / 2, df1, df2)
    f_high = f_obs * stats.f.ppf(1 - alpha / 2, df2, df1)
    return (f_low - 1) / (f_low + k - 1), (f_high - 1) / (f_high + k - 1)


def _icc2_ci(t: AnovaTable, icc2: float, alpha: float) -> tuple[float, float] | None:
    n, k = t.n_targets, t.n_raters
    msr, msc, mse = t.ms_targets, t.ms_raters, t.ms_error
    if icc2 >= 1 or mse <= 0:
        return None
    a = k * icc2 / (n * (1 - icc2))
    b = 1 + k * icc2 * (n - 1) / (n * (1 - icc2))
    denominator = (a * msc) ** 2 / (k - 1) + (b * mse) ** 2 / ((n - 1) * (k - 1))
    if denominator <= 0:
        return None
    v = (a * msc + b * mse) ** 2 / denominator
    f_star = stats.f.ppf(1 - alpha / 2, n - 1, v)
    f_star_inv = stats.f.ppf(1 - alpha / 2, v, n - 1)
    spread = k * msc + (k * n - k - n) * mse
    low = n * (msr - f_star * mse) / (f_star * spread + n * msr)
    high = n * (f_star_inv * msr - mse) / (spread + n * f_star_inv * msr)
    return float(low), float(high)


def icc(ratings: ArrayLike, *, alpha: float = 0.05) -> IccResult:
    """ICC(2,1) (absolute agreement) and ICC(3,1) (consistency) of an ``(n, k)`` rating array.

    Parameters
    ----------
    ratings : array_like, shape (n, k)
        ``n >= 2`` targets by ``k >= 2`` raters, all finite.
    alpha : float
        1 - confidence level of the intervals.

    Returns
    -------
    IccResult
        An ICC is ``None`` when the ratings have no variance at all (0 / 0).

    Raises
    ------
    ValueError
        Bad shape or missing values.

    Examples
    --------
    Shrout & Fleiss (1979), Table 2 (6 targets, 4 judges):

    >>> r = icc([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]])
    >>> round(r.icc2_1, 2), round(r.icc3_1, 2)
    (0.29, 0.71)
    """
    t = two_way_anova(ratings)
    n, k = t.n_targets, t.n_raters
    msr, msc, mse = t.ms_targets, t.ms_raters, t.ms_error
    denominator2 = msr + (k - 1) * mse + k * (msc - mse) / n
    denominator3 = msr + (k - 1) * mse
    icc2 = (msr - mse) / denominator2 if denominator2 > 0 else None
    icc3 = (msr - mse) / denominator3 if denominator3 > 0 else None
    return IccResult(
        icc2_1=icc2,
        icc2_1_ci95=None if icc2 is None else _icc2_ci(t, icc2, alpha),
        icc3_1=icc3,
        icc3_1_ci95=None if icc3 is None else _icc3_ci(t, alpha),
        anova=t,
    )


def bland_altman(a: Sequence[float] | ArrayLike, b: Sequence[float] | ArrayLike) -> BlandAltman:
    """Bias and 95% limits of agreement of paired measurements ``a`` and ``b``.

    Parameters
    ----------
    a, b : array_like, shape (n,)
        Paired, finite measurements of the same targets; ``n >= 2``.

    Returns
    -------
    BlandAltman
        ``bias = mean(a - b)``, ``loa = bias ± 1.96 * SD(a - b)`` (ddof 1).

    Raises
    ------
    ValueError
        Different lengths, fewer than 2 pairs or non-finite values.
    """
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    if x.shape != y.shape or x.size < 2:
        raise ValueError("a and b must be paired arrays of at least 2 values")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("a and b must be finite")
    d = x - y
    bias = float(d.mean())
    sd = float(d.std(ddof=1))
    half_width = stats.t.ppf(0.975, d.size - 1) * sd / math.sqrt(d.size)
    return BlandAltman(
        n=int(d.size),
        bias=bias,
        sd_difference=sd,
        loa_low=bias - Z95 * sd,
        loa_high=bias + Z95 * sd,
        bias_ci95=(bias - half_width, bias + half_width),
        means=tuple(float(v) for v in (x + y) / 2),
        differences=tuple(float(v) for v in d),
    )


def agreement(ratings: ArrayLike, *, alpha: float = 0.05) -> AgreementResult:
    """ICC, SEM (both definitions) and, for two raters, Bland–Altman of an ``(n, k)`` array.

    Rows with a missing value (NaN) are dropped first.

    Raises
    ------
    ValueError
        Fewer than 2 complete rows or fewer than 2 raters.
    """
    x = _check_ratings(complete_rows(ratings))
    result = icc(x, alpha=alpha)
    sd_pooled = float(x.std(ddof=1))
    sem = math.sqrt(result.anova.ms_error)
    sem_from_icc = None if result.icc2_1 is None else sd_pooled * math.sqrt(max(0.0, 1.0 - result.icc2_1))
    return AgreementResult(
        n_targets=x.shape[0],
        n_raters=x.shape[1],
        icc=result,
        sem=sem,
        sem_from_icc=sem_from_icc,
        sd_pooled=sd_pooled,
        sem95=Z95 * sem,
        mdc95=Z95 * math.sqrt(2.0) * sem,
        bland_altman=bland_altman(x[:, 0], x[:, 1]) if x.shape[1] == 2 else None,
    )
