/**
 * What to draw on the image for one leg's alignment (architecture.md §6 JSON), as plain geometry in
 * image pixels: mechanical axes, the weight-bearing line, joint lines, CORA points and metric labels.
 *
 * The alignment JSON carries the joints, the metric values and the CORA points, not the joint-line
 * geometry. Joint lines are therefore drawn through the joint centre at the measured angle (the
 * metric definitions of inference/core/alignment.py):
 *   mLDFA: angle between H − N and the distal femoral line directed medial → lateral;
 *   MPTA:  angle between A − N and the plateau line directed lateral → medial;
 *   mLDTA: angle between N − A and the plafond line directed medial → lateral.
 * The distal femoral line is moved onto the condyles when the leg's femur outline is known: the
 * line of that direction touching the outline's most distal point. The plateau and plafond lines
 * stay on the knee and ankle centres (the tibial spines and the malleolus would mislead a tangent).
 * If a server adds explicit segments under `leg.landmarks` (`[[x, y], [x, y]]` or `{p0, p1}`), those
 * are drawn instead.
 */

import type { LegAlignmentJson, MetricJson } from "../api/types";
import type { Point } from "./geometry";
import { fixed, formatHka, lengthText } from "./clinicalText";
import { classify, type RangeStatus } from "./normals";

export type SegmentKind = "femoral-axis" | "tibial-axis" | "weight-bearing" | "joint-line" | "landmark";

export interface Segment {
  kind: SegmentKind;
  a: Point;
  b: Point;
  name?: string;
}

export interface OverlayLabel {
  at: Point;
  /** Row in the stack of labels at the same anchor (0 = on the anchor's height). */
  line: number;
  text: string;
  metric: string;
  status: RangeStatus;
  /** -1: place the text left of the anchor, +1: right. */
  side: number;
}

export interface LegOverlay {
  leg: number;
  segments: Segment[];
  cora: { at: Point; text: string; metric: string; side: number }[];
  labels: OverlayLabel[];
  /** Landmark points of newer alignments (issue 14): femoral-head apex, knee joint-line ends. */
  points: { at: Point; name: string }[];
}

/**
 * Where a line through `near` (with unit normal `normal`) touches `outline` once shifted along the
 * normal: `near` moved to the outline vertex farthest along `normal`. The line keeps its direction
 * and stays centred across from `near`.
 */
export function tangentCentre(outline: readonly Point[], near: Point, normal: Point): Point {
  let best = -Infinity;
  for (const p of outline) best = Math.max(best, (p[0] - near[0]) * normal[0] + (p[1] - near[1]) * normal[1]);
  if (!Number.isFinite(best)) return near;
  return [near[0] + normal[0] * best, near[1] + normal[1] * best];
}

function isPoint(v: unknown): v is Point {
  return Array.isArray(v) && v.length >= 2 && typeof v[0] === "number" && typeof v[1] === "number";
}

function unit(v: Point): Point {
  const n = Math.hypot(v[0], v[1]);
  return n === 0 ? [0, 0] : [v[0] / n, v[1] / n];
}

/** Rotate by `deg` degrees; on screen (y down) positive is clockwise. */
export function rotateDeg(v: Point, deg: number): Point {
  const t = (deg * Math.PI) / 180;
  return [v[0] * Math.cos(t) - v[1] * Math.sin(t), v[0] * Math.sin(t) + v[1] * Math.cos(t)];
}

/** The x direction (+1 / -1) that points medially for this leg. */
export function medialSign(leg: LegAlignmentJson, legCount: number): number {
  if (legCount >= 2) return leg.image_side === "right" ? -1 : 1;
  if (leg.anatomical_side === "right") return 1; // standard AP display: patient's right on the image left
  if (leg.anatomical_side === "left") return -1;
  return leg.image_side === "right" ? -1 : 1;
}

/**
 * Of the two unit directions at `angleDeg` from `reference` (mirror images about it), the one that
 * points more toward x sign `xSign` (ties: the clockwise one).
 */
export function directionAtAngle(reference: Point, angleDeg: number, xSign: number): Point {
  const ref = unit(reference);
  const cw = rotateDeg(ref, angleDeg);
  const ccw = rotateDeg(ref, -angleDeg);
  return cw[0] * xSign >= ccw[0] * xSign ? cw : ccw;
}

function value(m: MetricJson | null | undefined): number | null {
  return m && typeof m.value === "number" && Number.isFinite(m.value) ? m.value : null;
}

function metricText(name: string, m: MetricJson | null | undefined, digits = 1): string | null {
  const v = value(m);
  if (v === null) return null;
  if (name === "MAD") return `MAD ${lengthText(v, m?.unit)}`;
  if (name === "hka_deviation_deg") return formatHka(v, digits);
  return `${name} ${fixed(v, digits)}°`;
}

/** Landmarks given as single points (`{"femoral_head_apex": [x, y], ...}`), in a fixed order. */
export function landmarkPoints(landmarks: Record<string, unknown> | undefined): { at: Point; name: string }[] {
  return Object.entries(landmarks ?? {}).filter(([, raw]) => isPoint(raw)).map(([name, raw]) => ({ at: raw as Point, name }));
}

function landmarkSegments(landmarks: Record<string, unknown> | undefined): Segment[] {
  const out: Segment[] = [];
  for (const [name, raw] of Object.entries(landmarks ?? {})) {
    let a: unknown;
    let b: unknown;
    if (Array.isArray(raw) && raw.length === 2) [a, b] = raw;
    else if (raw && typeof raw === "object") {
      const obj = raw as Record<string, unknown>;
      a = obj.p0 ?? obj.start ?? (Array.isArray(obj.points) ? obj.points[0] : undefined);
      b = obj.p1 ?? obj.end ?? (Array.isArray(obj.points) ? obj.points[1] : undefined);
    }
    if (isPoint(a) && isPoint(b)) out.push({ kind: "landmark", a, b, name });
  }
  return out;
}

export interface LegBones {
  /** The femur outline of this leg (image pixels), to put the distal femoral line on the condyles. */
  femur?: readonly Point[];
}

export function legOverlay(leg: LegAlignmentJson, index: number, legCount: number, bones: LegBones = {}): LegOverlay {
  const overlay: LegOverlay = { leg: index, segments: [], cora: [], labels: [], points: landmarkPoints(leg.landmarks) };
  const { hip, knee, ankle } = leg.joints ?? {};
  const m = leg.metrics ?? {};
  const medial = medialSign(leg, legCount);
  const lateral = -medial;

  const label = (at: Point | null | undefined, name: string, line = 0) => {
    if (!isPoint(at)) return;
    const text = metricText(name, m[name]);
    if (!text) return;
    const metric = m[name]!;
    const unit = name === "MAD" ? (metric.unit === "mm" ? "mm" : "px") : "deg";
    const { status } = classify(name, value(metric), { unit, p2_5: metric.p2_5, p97_5: metric.p97_5 });
    overlay.labels.push({ at: [at[0], at[1]], line, text, metric: name, status, side });
  };
  const side = lateral;

  if (isPoint(hip) && isPoint(knee)) overlay.segments.push({ kind: "femoral-axis", a: hip, b: knee });
  if (isPoint(knee) && isPoint(ankle)) overlay.segments.push({ kind: "tibial-axis", a: knee, b: ankle });
  if (isPoint(hip) && isPoint(ankle)) overlay.segments.push({ kind: "weight-bearing", a: hip, b: ankle });

  const explicit = landmarkSegments(leg.landmarks);
  if (explicit.length) overlay.segments.push(...explicit);
  else if (isPoint(hip) && isPoint(knee) && isPoint(ankle)) {
    const length = Math.hypot(ankle[0] - hip[0], ankle[1] - hip[1]);
    const half = Math.max(8, 0.045 * length);
    const line = (centre: Point, dir: Point, name: string): Segment => ({
      kind: "joint-line", name,
      a: [centre[0] - dir[0] * half, centre[1] - dir[1] * half],
      b: [centre[0] + dir[0] * half, centre[1] + dir[1] * half],
    });
    const mLDFA = value(m.mLDFA);
    if (mLDFA !== null) {
      const dir = directionAtAngle([hip[0] - knee[0], hip[1] - knee[1]], mLDFA, lateral);
      // Normal of the line pointing distally (away from the hip).
      let normal: Point = [-dir[1], dir[0]];
      if (normal[0] * (knee[0] - hip[0]) + normal[1] * (knee[1] - hip[1]) < 0) normal = [-normal[0], -normal[1]];
      const centre = bones.femur && bones.femur.length >= 3 ? tangentCentre(bones.femur, knee, normal) : knee;
      overlay.segments.push(line(centre, dir, "distal femoral"));
    }
    const MPTA = value(m.MPTA);
    if (MPTA !== null) overlay.segments.push(line(knee, directionAtAngle([ankle[0] - knee[0], ankle[1] - knee[1]], MPTA, medial), "tibial plateau"));
    const mLDTA = value(m.mLDTA);
    if (mLDTA !== null) overlay.segments.push(line(ankle, directionAtAngle([knee[0] - ankle[0], knee[1] - ankle[1]], mLDTA, lateral), "plafond"));
  }

  for (const name of ["femoral_cora_deg", "tibial_cora_deg"]) {
    const cora = m[name];
    if (cora && isPoint(cora.point) && value(cora) !== null) {
      overlay.cora.push({ at: cora.point, text: `CORA ${value(cora)!.toFixed(1)}°`, metric: name, side: lateral });
    }
  }

  // Every label on the lateral side (the space between two legs is too narrow), stacked per joint:
  // the whole-limb values (HKA, MAD) above the knee's joint-orientation angles.
  label(hip, "NSA", 0);
  label(hip, "mLPFA", 1);
  label(knee, "hka_deviation_deg", -2);
  label(knee, "MAD", -1);
  label(knee, "mLDFA", 0);
  label(knee, "MPTA", 1);
  label(knee, "JLCA", 2);
  label(ankle, "mLDTA", 0);
  return overlay;
}
