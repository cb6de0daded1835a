/**
 * Normal ranges of the lower-limb alignment angles shown next to every measurement.
 *
 * Source: adult reference values of D. Paley, *Principles of Deformity Correction*, Springer 2002,
 * chapter 1 ("Normal lower limb alignment and joint orientation"; also Paley D, Tetsworth K,
 * Mechanical axis deviation of the lower limbs, Clin Orthop Relat Res 1992;280:48–64):
 * mLPFA 90° (85–95), mLDFA 87° (85–90), aLDFA 81° (79–83), MPTA 87° (85–90), LDTA 89° (86–92),
 * JLCA 0–2°, MAD 8 ± 7 mm medial. Neck–shaft angle 120–140° (typical adult 125–135°). The hip–knee–
 * ankle deviation band ±3° (0 = straight; varus negative, valgus positive, the Cooke/OAI convention)
 * is the usual clinical band for "neutral" alignment.
 *
 * These are ADULT values. Children's alignment changes with age (physiological varus in infancy,
 * valgus around 3–4 years) and skeletal dysplasia shifts it further: out-of-range means "look", not
 * "abnormal".
 */

export type RangeStatus = "low" | "normal" | "high" | "unknown";

export interface NormalRange {
  metric: string;
  /** Label used in the UI. */
  title: string;
  low: number;
  high: number;
  unit: "deg" | "mm";
  /** Shown as a tooltip. */
  note?: string;
}

export const NORMAL_RANGE_SOURCE =
  "Adult reference values: Paley D., Principles of Deformity Correction (Springer 2002), ch. 1; Paley & Tetsworth, Clin Orthop 1992;280:48–64.";

export const NORMAL_RANGES: Readonly<Record<string, NormalRange>> = {
  hka_deviation_deg: {
    metric: "hka_deviation_deg", title: "HKA deviation", low: -3, high: 3, unit: "deg",
    note: "0 = straight; varus negative, valgus positive",
  },
  mLDFA: { metric: "mLDFA", title: "mLDFA", low: 85, high: 90, unit: "deg", note: "mechanical lateral distal femoral angle" },
  MPTA: { metric: "MPTA", title: "MPTA", low: 85, high: 90, unit: "deg", note: "medial proximal tibial angle" },
  mLDTA: { metric: "mLDTA", title: "mLDTA", low: 86, high: 92, unit: "deg", note: "mechanical lateral distal tibial angle" },
  mLPFA: { metric: "mLPFA", title: "mLPFA", low: 85, high: 95, unit: "deg", note: "mechanical lateral proximal femoral angle" },
  aLDFA: { metric: "aLDFA", title: "aLDFA", low: 79, high: 83, unit: "deg", note: "anatomical lateral distal femoral angle" },
  NSA: { metric: "NSA", title: "NSA", low: 120, high: 140, unit: "deg", note: "neck–shaft angle; typical adult 125–135°" },
  JLCA: { metric: "JLCA", title: "JLCA", low: 0, high: 2, unit: "deg", note: "joint line convergence angle" },
  MAD: { metric: "MAD", title: "MAD", low: 1, high: 15, unit: "mm", note: "8 ± 7 mm medial; only judged in mm" },
};

/** The order of rows in the per-leg table. */
export const METRIC_ORDER: readonly string[] = [
  "hka_deviation_deg", "HKA", "MAD", "mLDFA", "aLDFA", "mLPFA", "MPTA", "mLDTA", "JLCA", "NSA", "AMA",
  "femoral_cora_deg", "tibial_cora_deg",
];

export const METRIC_TITLES: Readonly<Record<string, string>> = {
  hka_deviation_deg: "HKA dev.", HKA: "HKA", MAD: "MAD", mLDFA: "mLDFA", aLDFA: "aLDFA", mLPFA: "mLPFA",
  MPTA: "MPTA", mLDTA: "mLDTA", JLCA: "JLCA", NSA: "NSA", AMA: "AMA", femoral_cora_deg: "Femoral CORA",
  tibial_cora_deg: "Tibial CORA",
};

export interface Classification {
  status: RangeStatus;
  range: NormalRange | null;
  /** The 95% interval of the value reaches across a bound of the normal range. */
  uncertain: boolean;
}

/**
 * Compare a value (and optionally its 2.5–97.5 percentile interval) with the normal range of
 * `metric`. Bounds are inclusive. Unknown metrics, missing values and a length in other units than
 * the range's (MAD in px) give `unknown`.
 */
export function classify(metric: string, value: number | null | undefined, opts: { unit?: string; p2_5?: number | null; p97_5?: number | null } = {}): Classification {
  const range = NORMAL_RANGES[metric] ?? null;
  if (!range || value === null || value === undefined || !Number.isFinite(value)) {
    return { status: "unknown", range, uncertain: false };
  }
  if (range.unit === "mm" && opts.unit !== undefined && opts.unit !== "mm") {
    return { status: "unknown", range, uncertain: false };
  }
  const status: RangeStatus = value < range.low ? "low" : value > range.high ? "high" : "normal";
  let uncertain = false;
  const lo = opts.p2_5;
  const hi = opts.p97_5;
  if (typeof lo === "number" && typeof hi === "number") {
    const insideLo = (v: number) => v >= range.low;
    const insideHi = (v: number) => v <= range.high;
    uncertain = insideLo(lo) !== insideLo(hi) || insideHi(lo) !== insideHi(hi);
  }
  return { status, range, uncertain };
}

export function formatRange(range: NormalRange | null): string {
  if (!range) return "";
  const unit = range.unit === "deg" ? "°" : " mm";
  if (range.low < 0) return `${range.low} to +${range.high}${unit}`;
  return `${range.low}–${range.high}${unit}`;
}
