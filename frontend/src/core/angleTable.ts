/**
 * The rows of the editor's per-leg angle table, as plain data (tested without a DOM).
 *
 * One row per metric in `METRIC_ORDER`, then the lengths the server sends (issue 14: leg length
 * from the femoral-head apex to the plafond centre, femur and tibia length). Wording from
 * clinicalText.ts (the same as the report's): HKA as "171.0° (9.0° valgus)"; judgements low/high,
 * varus/valgus, ", borderline". Ranges come from the server's table (normals.ts); a range in mm is
 * never shown or applied beside a value in px.
 */

import type { LegAlignmentJson, MetricJson } from "../api/types";
import { fixed, hkaText, judgementText, lengthText } from "./clinicalText";
import { classify, formatRange, METRIC_ORDER, METRIC_TITLES, type RangeStatus } from "./normals";

export const LENGTH_ROWS: readonly string[] = ["leg_length", "femur_length", "tibia_length"];

export interface AngleRow {
  metric: string;
  title: string;
  value: string;
  spread: string;
  /** "95% interval a to b" (tooltip). */
  interval: string;
  range: string;
  /** "" when normal; "high", "varus", "normal, borderline", ... */
  judgement: string;
  status: RangeStatus;
  uncertain: boolean;
  note: string;
}

function isLength(name: string): boolean {
  return name === "MAD" || LENGTH_ROWS.includes(name);
}

export function angleRow(name: string, metric: MetricJson | null | undefined): AngleRow {
  const value = typeof metric?.value === "number" && Number.isFinite(metric.value) ? metric.value : null;
  const length = isLength(name);
  const unit = length ? (metric?.unit === "mm" ? "mm" : "px") : "deg";
  const { status, uncertain, range, reason } = classify(name, value, { unit, p2_5: metric?.p2_5, p97_5: metric?.p97_5 });
  const sd = metric?.sd;
  const suffix = length ? ` ${unit}` : "°";
  const text = value === null ? "—" : name === "hka_deviation_deg" ? hkaText(value) : length ? lengthText(value, unit) : `${fixed(value)}°`;
  const judged = status === "low" || status === "high" || (status === "normal" && uncertain);
  return {
    metric: name,
    title: METRIC_TITLES[name] ?? name,
    value: text,
    spread: typeof sd === "number" && sd > 0 ? `± ${fixed(sd, sd < 0.1 ? 2 : 1)}` : "",
    interval: typeof metric?.p2_5 === "number" && typeof metric?.p97_5 === "number"
      ? `95% interval ${fixed(metric.p2_5)} to ${fixed(metric.p97_5)}${suffix}` : "",
    range: range && range.unit === unit ? formatRange(range) : name === "MAD" && unit === "px" ? "judged in mm only" : "",
    judgement: judged ? judgementText(name, status, uncertain) : "",
    status,
    uncertain,
    note: reason ?? range?.note ?? (name === "hka_deviation_deg" ? "180° − |deviation|; varus negative, valgus positive" : ""),
  };
}

/** The rows of one leg: angles in `METRIC_ORDER`, then the lengths the alignment has (older ones have none). */
export function legRows(leg: Pick<LegAlignmentJson, "metrics" | "not_measurable">): AngleRow[] {
  const metrics = leg.metrics ?? {};
  const missing = leg.not_measurable ?? {};
  const rows: AngleRow[] = [];
  for (const name of METRIC_ORDER) if (name in metrics) rows.push(notMeasurable(angleRow(name, metrics[name]), missing[name]));
  for (const name of LENGTH_ROWS) {
    if (metrics[name]) rows.push(angleRow(name, metrics[name]));
    else if (missing[name]) rows.push(notMeasurable(angleRow(name, null), missing[name]));
  }
  return rows;
}

/** A row whose metric needs anatomy outside the image says so instead of "—" (issue 24, item 5). */
function notMeasurable(row: AngleRow, reason: string | undefined): AngleRow {
  return reason ? { ...row, value: "not measurable", range: reason, judgement: "", note: `not measurable: ${reason}` } : row;
}
