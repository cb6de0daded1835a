"""Normal ranges of the alignment metrics, adult and (where a cited source gives one) age-specific.

Conventions follow the alignment JSON contract (architecture.md §6): angles in degrees,
``hka_deviation_deg`` **varus negative**, ``MAD`` positive when the mechanical axis passes medial to
the knee (varus). Sources that state the hip-knee-ankle angle varus-positive (Sabharwal & Zhao 2009)
are converted to this sign here.

Every :class:`Reference` carries the key of its citation in :data:`CITATIONS`. Only values printed in
those sources are used; where a paediatric source gives a mean but no spread, the entry has a mean
and no bounds, and values are then reported against it without an out-of-range judgement
(``status = "no_reference"``). Applying adult bounds to a young child would flag physiological
bowing or knock-knee as abnormal, so an age with no cited band gets no judgement at all.

Age is in whole years (the app stores a birth year, not a birth date). An unknown age uses the
adult references and says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "ADULT_AGE_YEARS",
    "CITATIONS",
    "METRIC_LABELS",
    "REFERENCES",
    "Classification",
    "Reference",
    "classify",
    "normal_range_table",
    "reference_for",
]

ADULT_AGE_YEARS = 18.0

CITATIONS: dict[str, str] = {
    "paley2002": (
        "Paley D. Principles of Deformity Correction. Berlin: Springer; 2002. Chapter 1: Normal lower limb "
        "alignment and joint orientation."
    ),
    "paley1992": (
        "Paley D, Tetsworth K. Mechanical axis deviation of the lower limbs: preoperative planning of "
        "uniapical angular deformities of the tibia or femur. Clin Orthop Relat Res. 1992;(280):48-64."
    ),
    "moreland1987": (
        "Moreland JR, Bassett LW, Hanker GJ. Radiographic analysis of the axial alignment of the lower "
        "extremity. J Bone Joint Surg Am. 1987;69(5):745-749."
    ),
    "sabharwal2008": (
        "Sabharwal S, Zhao C, Edgar M. Lower limb alignment in children: reference values based on a "
        "full-length standing radiograph. J Pediatr Orthop. 2008;28(7):740-746."
    ),
    "sabharwal2009": (
        "Sabharwal S, Zhao C. The hip-knee-ankle angle in children: reference values based on a full-length "
        "standing radiograph. J Bone Joint Surg Am. 2009;91(10):2461-2468."
    ),
    "osullivan2021": (
        "O'Sullivan IR, et al. Femoral neck-shaft angle and bone age in 4- to 24-year-olds based on 1005 EOS "
        "three-dimensional reconstructions. J Pediatr Orthop B. 2021;30(4):337-345. "
        "doi:10.1097/BPB.0000000000000776"
    ),
    "ijo2022": (
        "Lower limb alignment in Indian children: a radiographic analysis of coronal plane parameters. "
        "Indian J Orthop. 2022;56(4):639-645. doi:10.1007/s43465-021-00548-6"
    ),
}

METRIC_LABELS: dict[str, str] = {
    # Charts and agreement statistics work on the signed deviation; tables say "HKA 171.0° (9.0° valgus)".
    "hka_deviation_deg": "HKA deviation (valgus +, varus −)",
    "HKA": "HKA",
    "mLDFA": "mLDFA",
    "MPTA": "MPTA",
    "mLDTA": "mLDTA",
    "mLPFA": "mLPFA",
    "aLDFA": "aLDFA",
    "JLCA": "JLCA",
    "AMA": "AMA",
    "NSA": "NSA",
    "MAD": "MAD",
    "femoral_cora_deg": "Femoral CORA",
    "tibial_cora_deg": "Tibial CORA",
    "femur_length": "Femur length",
    "tibia_length": "Tibia length",
    "limb_length": "Limb length (hip–knee–ankle)",
    "leg_length": "Leg length",
    "leg_length_difference": "Leg-length difference",
}

Status = Literal["normal", "low", "high", "no_reference"]


@dataclass(frozen=True)
class Reference:
    """A normal range of one metric for one population.

    ``low``/``high`` are inclusive bounds (``None`` when the source gives no range); ``mean`` is the
    published mean when there is one. Ages are whole years, ``age_min_years <= age < age_max_years``
    (``None`` = open). ``unit`` is ``"deg"`` or ``"mm"``: a length reference never applies to pixels.
    """

    metric: str
    population: str
    low: float | None
    high: float | None
    mean: float | None
    unit: str
    citation_keys: tuple[str, ...]
    age_min_years: float | None = None
    age_max_years: float | None = None
    note: str = ""

    @property
    def has_range(self) -> bool:
        return self.low is not None and self.high is not None

    @property
    def citation(self) -> str:
        """The full citations, joined with "; "."""
        return "; ".join(CITATIONS[key] for key in self.citation_keys)

    def covers_age(self, age_years: float) -> bool:
        lo = -math.inf if self.age_min_years is None else self.age_min_years
        hi = math.inf if self.age_max_years is None else self.age_max_years
        return lo <= age_years < hi

    def range_text(self) -> str:
        """E.g. ``"85–90°"``, ``"1–15 mm"`` or ``"mean 95°"``."""
        unit = "°" if self.unit == "deg" else f" {self.unit}"
        if self.metric == "hka_deviation_deg":  # signed deviation: said with its direction (issue 16, item 5)
            if self.has_range:
                return f"{_hka_bound(self.low)} to {_hka_bound(self.high)}"
            if self.mean is not None:
                return f"mean {_hka_bound(self.mean)}"
        if self.has_range:
            joiner = " to " if min(self.low, self.high) < 0 else "–"  # type: ignore[type-var]
            return f"{_fmt(self.low)}{joiner}{_fmt(self.high)}{unit}"
        if self.mean is not None:
            return f"mean {_fmt(self.mean)}{unit}"
        return "—"


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _hka_bound(deviation: float | None) -> str:
    """``-3`` -> ``"3° varus"``, ``2.5`` -> ``"2.5° valgus"``, ``0`` -> ``"straight"``."""
    if not deviation:
        return "straight"
    return f"{abs(deviation):g}° {'varus' if deviation < 0 else 'valgus'}"


_ADULT = "adult"
_PALEY = ("paley2002", "paley1992")

# Adult ranges: Paley's malalignment-test values (85-90 for mLDFA/MPTA etc.), Moreland's HKA.
_ADULT_REFERENCES: tuple[Reference, ...] = (
    Reference("hka_deviation_deg", _ADULT, -3.0, 3.0, -1.3, "deg", ("moreland1987", "paley2002"),
              note="Mechanical axis 1.3° ± 2° varus (Moreland); varus negative."),
    Reference("mLDFA", _ADULT, 85.0, 90.0, 87.0, "deg", _PALEY),
    Reference("MPTA", _ADULT, 85.0, 90.0, 87.0, "deg", _PALEY),
    Reference("mLDTA", _ADULT, 86.0, 92.0, 89.0, "deg", _PALEY),
    Reference("mLPFA", _ADULT, 85.0, 95.0, 90.0, "deg", _PALEY),
    Reference("aLDFA", _ADULT, 79.0, 83.0, 81.0, "deg", _PALEY),
    Reference("JLCA", _ADULT, 0.0, 2.0, None, "deg", _PALEY),
    Reference("NSA", _ADULT, 125.0, 135.0, None, "deg", ("paley2002",)),
    Reference("MAD", _ADULT, 1.0, 15.0, 8.0, "mm", _PALEY,
              note="8 ± 7 mm medial; positive = medial (varus side)."),
)

# Age-specific entries. Only what the cited abstracts state; see the module docstring.
_CHILD_REFERENCES: tuple[Reference, ...] = (
    Reference("hka_deviation_deg", "children 1–2 y", None, None, -3.6, "deg", ("sabharwal2009",),
              age_min_years=1, age_max_years=2,
              note="Mean 3.6° varus at 1–2 years; no range in the source abstract."),
    Reference("hka_deviation_deg", "children 2–3 y", None, None, 2.5, "deg", ("sabharwal2009",),
              age_min_years=2, age_max_years=3,
              note="Mean 2.5° valgus at 2–3 years; no range in the source abstract."),
    Reference("hka_deviation_deg", "children ≥ 7 y", -3.0, 3.0, -0.3, "deg", ("sabharwal2009", "moreland1987"),
              age_min_years=7, age_max_years=ADULT_AGE_YEARS,
              note="After 7 years the mean (0.3° varus) is within 1° of the adult reference, so the adult "
                   "range applies."),
    Reference("mLDFA", "children 1–2 y", None, None, 95.0, "deg", ("sabharwal2008",),
              age_min_years=1, age_max_years=2,
              note="Mean 95° (95% CI of the mean 93–97°, not a reference interval)."),
    Reference("mLDFA", "children ≥ 5 y", 85.0, 90.0, 87.5, "deg", ("ijo2022", "paley2002"),
              age_min_years=5, age_max_years=ADULT_AGE_YEARS,
              note="Mean constant at 87–88° after 5 years (Indian cohort), so the adult range applies."),
    Reference("MPTA", "children ≥ 8 y", 85.0, 90.0, 88.0, "deg", ("ijo2022", "paley2002"),
              age_min_years=8, age_max_years=ADULT_AGE_YEARS,
              note="Mean about 88° after 8 years (Indian cohort), so the adult range applies."),
    Reference("NSA", "children 4–17 y", 119.8, 144.0, None, "deg", ("osullivan2021",),
              age_min_years=4, age_max_years=ADULT_AGE_YEARS,
              note="Envelope of mean ± 2 SD at 4 y (131.9 ± 6.1°) and 16 y (128.9 ± 4.5°); true (3D) angle — "
                   "a projected AP angle reads higher with femoral anteversion."),
)

REFERENCES: tuple[Reference, ...] = _ADULT_REFERENCES + _CHILD_REFERENCES


@dataclass(frozen=True)
class Classification:
    """A value judged against its reference.

    ``status`` is ``"low"``/``"high"`` when outside the range, ``"normal"`` inside it, and
    ``"no_reference"`` when no range applies (no cited range for the age, a length in pixels, or a
    metric without one); ``reference`` is then the age's mean-only reference, if any, else ``None``.
    ``crosses_boundary`` is true when the value's 95% interval (p2.5–p97.5) straddles a bound, i.e.
    the judgement is uncertain. ``message`` says it in words.
    """

    status: Status
    reference: Reference | None
    crosses_boundary: bool
    message: str

    @property
    def out_of_range(self) -> bool:
        return self.status in ("low", "high")


def reference_for(metric: str, *, age_years: float | None) -> Reference | None:
    """The reference that applies to ``metric`` at ``age_years`` (``None`` = unknown age: adult).

    Children (age < 18) get the age band that covers them, or ``None`` when no cited band does.
    """
    if age_years is None or age_years >= ADULT_AGE_YEARS:
        return next((ref for ref in _ADULT_REFERENCES if ref.metric == metric), None)
    return next((ref for ref in _CHILD_REFERENCES if ref.metric == metric and ref.covers_age(age_years)), None)


_DIRECTION_WORDS: dict[str, tuple[str, str]] = {
    "hka_deviation_deg": ("varus", "valgus"),
    "MAD": ("axis too far lateral (valgus side)", "axis too far medial (varus side)"),
}


def classify(
    metric: str,
    value: float,
    *,
    unit: str,
    age_years: float | None,
    p2_5: float | None = None,
    p97_5: float | None = None,
) -> Classification:
    """Judge ``value`` (in ``unit``) against the reference for ``metric`` at ``age_years``.

    Parameters
    ----------
    metric : str
        Alignment metric name (``"mLDFA"``, ``"hka_deviation_deg"``, ``"MAD"``, ...).
    value : float
        The measured value.
    unit : str
        ``"deg"``, ``"mm"`` or ``"px"``; a reference in mm never judges a value in px.
    age_years : float, optional
        Age at the visit in whole years; ``None`` uses the adult reference.
    p2_5, p97_5 : float, optional
        The value's 95% interval (Monte-Carlo spread), used for ``crosses_boundary``.

    Returns
    -------
    Classification
    """
    reference = reference_for(metric, age_years=age_years)
    adult = reference_for(metric, age_years=None)
    if adult is None:
        return Classification("no_reference", None, False, "No normal range for this metric.")
    if adult.unit != unit:  # a length in px: no range, and no mm figure next to a px value
        return Classification("no_reference", None, False, f"No range for a value in {unit} (image not calibrated).")
    if reference is None:
        return Classification(
            "no_reference", None, False,
            f"No cited range at age {age_years:g} y (adult {adult.range_text()} does not apply).",
        )
    if not reference.has_range:
        return Classification("no_reference", reference, False,
                              f"{reference.population}: {reference.range_text()} (no cited range).")
    low, high = float(reference.low), float(reference.high)  # type: ignore[arg-type]
    crosses = p2_5 is not None and p97_5 is not None and (p2_5 < low <= p97_5 or p2_5 <= high < p97_5)
    if low <= value <= high:
        return Classification("normal", reference, crosses,
                              f"Within {reference.range_text()} ({reference.population}).")
    status: Status = "low" if value < low else "high"
    words = _DIRECTION_WORDS.get(metric)
    side = (words[0] if status == "low" else words[1]) if words else ("below" if status == "low" else "above")
    return Classification(status, reference, crosses,
                          f"Outside {reference.range_text()} ({reference.population}): {side}.")


TABLE_METRICS: tuple[str, ...] = (
    "hka_deviation_deg", "mLDFA", "MPTA", "mLDTA", "mLPFA", "aLDFA", "JLCA", "NSA", "MAD",
)


def normal_range_table(*, age_years: float | None) -> dict[str, Any]:
    """The references in force at ``age_years``, as JSON for the browser (the editor and the queue).

    The browser keeps no table of its own (issue 16, item 6): it judges with this one, by the same
    rules as :func:`classify` (inclusive bounds; a reference in mm never judges px; a mean without a
    range is reported, not judged). ``ranges`` has the metrics that have a reference at this age;
    ``unjudged`` says why the others get no judgement (a child's age no cited source covers).
    """
    ranges: dict[str, Any] = {}
    unjudged: dict[str, str] = {}
    for metric in TABLE_METRICS:
        reference = reference_for(metric, age_years=age_years)
        adult = reference_for(metric, age_years=None)
        if reference is None:
            if adult is not None:
                unjudged[metric] = (f"No cited range at age {age_years:g} y "
                                    f"(adult {adult.range_text()} does not apply).")
            continue
        ranges[metric] = {
            "metric": metric,
            "title": METRIC_LABELS.get(metric, metric),
            "low": reference.low,
            "high": reference.high,
            "mean": reference.mean,
            "unit": reference.unit,
            "population": reference.population,
            "range_text": reference.range_text(),
            "citation_keys": list(reference.citation_keys),
            "note": reference.note,
        }
    keys = list(dict.fromkeys(key for entry in ranges.values() for key in entry["citation_keys"]))
    return {
        "age_years": age_years,
        "ranges": ranges,
        "unjudged": unjudged,
        "citations": {key: CITATIONS[key] for key in keys},
    }
