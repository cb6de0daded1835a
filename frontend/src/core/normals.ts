/**
 * Normal ranges of the alignment metrics, as the server's one table has them (issue 16, item 6).
 *
 * The browser keeps no numbers of its own: the page context carries
 * `clinical.core.normal_ranges.normal_range_table(age_years=…)` (the references in force at the
 * patient's age at the visit; adult ones when the age is unknown), installed with `setNormalRanges`.
 * `classify` follows the rules of the server's `classify`: inclusive bounds; a range in mm never
 * judges a value in px; a mean without a range is shown, not judged; `uncertain` (borderline) when
 * the value's 95% interval reaches across a bound. The editor and the report therefore give the
 * same range and the same judgement for the same value.
 */

export type RangeStatus = "low" | "normal" | "high" | "unknown";

export interface NormalRange {
  metric: string;
  title: string;
  low: number | null;
  high: number | null;
  mean?: number | null;
  unit: "deg" | "mm" | string;
  population: string;
  /** The server's wording of the range, e.g. "85–90°" or "3° varus to 3° valgus". */
  range_text: string;
  citation_keys?: string[];
  note?: string;
}

export interface NormalRangeTable {
  age_years: number | null;
  ranges: Record<string, NormalRange>;
  /** Metrics without a judgement at this age, with the reason. */
  unjudged?: Record<string, string>;
  citations?: Record<string, string>;
}

let table: NormalRangeTable = { age_years: null, ranges: {}, unjudged: {}, citations: {} };

/** Install the server's table (from the page context). */
export function setNormalRanges(next: NormalRangeTable | null | undefined): void {
  table = next && typeof next === "object" && next.ranges ? next : { age_years: null, ranges: {}, unjudged: {}, citations: {} };
}

export function normalRanges(): NormalRangeTable {
  return table;
}

export function normalRange(metric: string): NormalRange | null {
  return table.ranges[metric] ?? null;
}

/** The sources of the table in force, for the note under the angle tables. */
export function normalRangeSource(): string {
  const population = table.age_years === null || table.age_years === undefined
    ? "Adult reference values (age unknown)"
    : `Reference values at ${table.age_years} y`;
  const keys = Object.keys(table.citations ?? {});
  return keys.length ? `${population}: ${keys.join(", ")} (the report lists the full references).` : `${population}.`;
}

/** The order of rows in the per-leg table (HKA: one row, the angle with the deviation's direction). */
export const METRIC_ORDER: readonly string[] = [
  "hka_deviation_deg", "MAD", "mLDFA", "aLDFA", "mLPFA", "MPTA", "mLDTA", "JLCA", "NSA", "AMA",
  "femoral_cora_deg", "tibial_cora_deg",
];

export const METRIC_TITLES: Readonly<Record<string, string>> = {
  hka_deviation_deg: "HKA", HKA: "HKA", MAD: "MAD", mLDFA: "mLDFA", aLDFA: "aLDFA", mLPFA: "mLPFA",
  MPTA: "MPTA", mLDTA: "mLDTA", JLCA: "JLCA", NSA: "NSA", AMA: "AMA", femoral_cora_deg: "Femoral CORA",
  tibial_cora_deg: "Tibial CORA", leg_length: "Leg length", femur_length: "Femur length", tibia_length: "Tibia length",
};

export interface Classification {
  status: RangeStatus;
  range: NormalRange | null;
  /** The 95% interval of the value reaches across a bound of the normal range. */
  uncertain: boolean;
  /** Why there is no judgement, when there is none. */
  reason?: string;
}

/**
 * Compare a value (and optionally its 2.5–97.5 percentile interval) with the normal range of
 * `metric` in the installed table. `unit` is the value's unit (angles: "deg", the default).
 */
export function classify(metric: string, value: number | null | undefined, opts: { unit?: string; p2_5?: number | null; p97_5?: number | null } = {}): Classification {
  const range = normalRange(metric);
  if (!range) return { status: "unknown", range: null, uncertain: false, reason: table.unjudged?.[metric] };
  if (value === null || value === undefined || !Number.isFinite(value)) return { status: "unknown", range, uncertain: false };
  const unit = opts.unit ?? "deg";
  if (range.unit !== unit) {
    return { status: "unknown", range, uncertain: false, reason: `No range for a value in ${unit} (image not calibrated).` };
  }
  if (range.low === null || range.high === null) return { status: "unknown", range, uncertain: false, reason: `${range.population}: ${range.range_text} (no cited range).` };
  const low = range.low;
  const high = range.high;
  const status: RangeStatus = value < low ? "low" : value > high ? "high" : "normal";
  const lo = opts.p2_5;
  const hi = opts.p97_5;
  const uncertain = typeof lo === "number" && typeof hi === "number" && ((lo < low && low <= hi) || (lo <= high && high < hi));
  return { status, range, uncertain };
}

export function formatRange(range: NormalRange | null): string {
  return range ? range.range_text : "";
}
