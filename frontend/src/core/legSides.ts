/**
 * Which patient side a LabelMe leg group (`group_id` 0 / 1) is, so the editor can say "right leg"
 * instead of "leg 0" (issue 16, item 4).
 *
 * 1. When the live alignment has measured the group (its hip point is one of the alignment's legs),
 *    the alignment's `anatomical_side` is used.
 * 2. Otherwise by position on a standard AP film: a leg on the image's left is the patient's right.
 * 3. A group without shapes is opposite to the other group; with no shapes at all, group 0 is the
 *    patient's right (the image-left leg, listed first by the server).
 */

import type { AlignmentJson } from "../api/types";
import { legSideTitle } from "./clinicalText";
import { canonicalLabel, type Doc } from "./labelme";

export type PatientSide = "right" | "left";

function groupPoints(doc: Doc, group: number): number[][] {
  return doc.shapes.filter((s) => (s.group_id ?? 0) === group).flatMap((s) => s.points);
}

function positionSide(doc: Doc, group: number): PatientSide | null {
  const points = groupPoints(doc, group);
  if (!points.length) return null;
  const x = points.reduce((sum, p) => sum + p[0], 0) / points.length;
  return x < doc.imageWidth / 2 ? "right" : "left";
}

function measuredSide(doc: Doc, group: number, alignment: AlignmentJson | null | undefined): { side: PatientSide; imageSide: string } | null {
  const hip = doc.shapes.find((s) => (s.group_id ?? 0) === group && s.shape_type === "point" && canonicalLabel(s.label) === "hip");
  if (!hip || !alignment?.legs) return null;
  const [x, y] = hip.points[0] ?? [NaN, NaN];
  const leg = alignment.legs.find((l) => l.joints?.hip && Math.hypot(l.joints.hip[0] - x, l.joints.hip[1] - y) < 0.5);
  if (!leg || (leg.anatomical_side !== "right" && leg.anatomical_side !== "left")) return null;
  return { side: leg.anatomical_side, imageSide: leg.image_side };
}

export function groupSide(doc: Doc, group: number, alignment?: AlignmentJson | null): PatientSide {
  const measured = measuredSide(doc, group, alignment);
  if (measured) return measured.side;
  const own = positionSide(doc, group);
  if (own) return own;
  const other = measuredSide(doc, 1 - group, alignment)?.side ?? positionSide(doc, 1 - group);
  if (other) return other === "right" ? "left" : "right";
  return group === 0 ? "right" : "left";
}

/** "Right leg", with the image side and group id as a hint for the tooltip. */
export function groupTitle(doc: Doc, group: number, alignment?: AlignmentJson | null): { text: string; hint: string } {
  const side = groupSide(doc, group, alignment);
  const imageSide = side === "right" ? "left" : "right";
  return { text: legSideTitle(side, null), hint: `${legSideTitle(side, imageSide)}, LabelMe group_id ${group}` };
}
