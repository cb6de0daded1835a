/**
 * Edits of a LabelMe working document, as pure functions: each returns a new `Doc` (unchanged
 * shapes are shared), which is what the undo history stores. Coordinates are image pixels.
 */

import {
  deleteVertex,
  insertVertex,
  moveVertex,
  nearestEdge,
  nearestVertex,
  pointInPolygon,
  translate,
  type Point,
} from "./geometry";
import { canonicalLabel, findBone, findJoint, makeShape, type Bone, type Doc, type Joint, type Shape } from "./labelme";

function withShapes(doc: Doc, shapes: Shape[]): Doc {
  return { ...doc, shapes };
}

function mapShape(doc: Doc, uid: string, fn: (shape: Shape) => Shape): Doc {
  return withShapes(doc, doc.shapes.map((s) => (s.uid === uid ? fn(s) : s)));
}

export function shapeByUid(doc: Doc, uid: string | null): Shape | undefined {
  return uid === null ? undefined : doc.shapes.find((s) => s.uid === uid);
}

/** Place (or move) the joint point of a leg: one hip, one knee, one ankle per leg. */
export function setJoint(doc: Doc, joint: Joint, leg: number, point: Point): { doc: Doc; uid: string } {
  const existing = findJoint(doc, joint, leg);
  if (existing) {
    return { doc: mapShape(doc, existing.uid, (s) => ({ ...s, points: [[point[0], point[1]]] })), uid: existing.uid };
  }
  const shape = makeShape(joint, [point], "point", leg);
  return { doc: withShapes(doc, [...doc.shapes, shape]), uid: shape.uid };
}

export function addPolygon(doc: Doc, label: string, leg: number | null, points: Point[]): { doc: Doc; uid: string } {
  if (points.length < 3) throw new RangeError("a polygon needs at least 3 vertices");
  const shape = makeShape(label, points, "polygon", leg);
  return { doc: withShapes(doc, [...doc.shapes, shape]), uid: shape.uid };
}

/** Put `points` in as the bone of a leg, replacing the one already there (SAM accept). */
export function replaceBone(doc: Doc, bone: Bone, leg: number, points: Point[]): { doc: Doc; uid: string; replaced: boolean } {
  const existing = findBone(doc, bone, leg);
  if (existing) {
    return {
      doc: mapShape(doc, existing.uid, (s) => ({ ...s, points: points.map((p) => [p[0], p[1]] as Point) })),
      uid: existing.uid,
      replaced: true,
    };
  }
  const added = addPolygon(doc, bone, leg, points);
  return { ...added, replaced: false };
}

export function moveShapeVertex(doc: Doc, uid: string, index: number, to: Point): Doc {
  return mapShape(doc, uid, (s) => ({ ...s, points: moveVertex(s.points, index, to) }));
}

export function translateShape(doc: Doc, uid: string, dx: number, dy: number): Doc {
  return mapShape(doc, uid, (s) => ({ ...s, points: translate(s.points, dx, dy) }));
}

export function insertShapeVertex(doc: Doc, uid: string, edgeIndex: number, point: Point): Doc {
  return mapShape(doc, uid, (s) => ({ ...s, points: insertVertex(s.points, edgeIndex, point) }));
}

/** Delete one vertex; null when the polygon would drop below 3 vertices. */
export function deleteShapeVertex(doc: Doc, uid: string, index: number): Doc | null {
  const shape = shapeByUid(doc, uid);
  if (!shape) return null;
  const points = deleteVertex(shape.points, index, shape.shape_type === "polygon" ? 3 : 1);
  if (!points) return null;
  return mapShape(doc, uid, (s) => ({ ...s, points }));
}

export function deleteShape(doc: Doc, uid: string): Doc {
  return withShapes(doc, doc.shapes.filter((s) => s.uid !== uid));
}

export function relabelShape(doc: Doc, uid: string, label: string, leg: number | null): Doc {
  return mapShape(doc, uid, (s) => ({ ...s, label, group_id: leg }));
}

export type HitKind = "point" | "vertex" | "edge" | "inside";

export interface Hit {
  uid: string;
  kind: HitKind;
  /** Vertex index (point, vertex) or edge index (edge: from vertex index to index + 1). */
  index: number;
  /** Where on the edge (edge hits). */
  at?: Point;
}

/**
 * What lies under image point `p`. `tolerance` is in image pixels (the caller divides its screen
 * tolerance by the zoom). Priority: joint points, then vertices of the selected shape, then edges,
 * then polygon interiors; the topmost (last drawn) shape wins among equals.
 */
export function hitTest(doc: Doc, p: Point, tolerance: number, selectedUid: string | null = null): Hit | null {
  const shapes = [...doc.shapes].reverse();
  for (const s of shapes) {
    if (s.shape_type === "point" && nearestVertex(p, s.points, tolerance * 1.5) >= 0) {
      return { uid: s.uid, kind: "point", index: 0 };
    }
  }
  const selected = shapeByUid(doc, selectedUid);
  if (selected && selected.shape_type !== "point") {
    const v = nearestVertex(p, selected.points, tolerance);
    if (v >= 0) return { uid: selected.uid, kind: "vertex", index: v };
  }
  for (const s of shapes) {
    if (s.shape_type === "point") continue;
    const v = nearestVertex(p, s.points, tolerance);
    if (v >= 0) return { uid: s.uid, kind: "vertex", index: v };
  }
  for (const s of shapes) {
    if (s.shape_type === "point") continue;
    const edge = nearestEdge(p, s.points, tolerance, s.shape_type !== "linestrip" && s.shape_type !== "line");
    if (edge) return { uid: s.uid, kind: "edge", index: edge.index, at: edge.point };
  }
  for (const s of shapes) {
    if (s.shape_type === "polygon" && pointInPolygon(p, s.points)) return { uid: s.uid, kind: "inside", index: -1 };
  }
  return null;
}

/** One-line description of a shape for lists and status text: "femur · leg 0 · 38 vertices". */
/** "femur · right leg · 4 vertices"; `legName` names a group (default "leg <group_id>"). */
export function describeShape(shape: Shape, legName: (group: number) => string = (g) => `leg ${g}`): string {
  const canonical = canonicalLabel(shape.label);
  const label = canonical ?? shape.label;
  const leg = shape.group_id === null ? "" : ` · ${legName(shape.group_id)}`;
  const size = shape.shape_type === "point" ? "" : ` · ${shape.points.length} vertices`;
  return `${label}${leg}${size}`;
}
