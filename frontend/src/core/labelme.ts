/**
 * LabelMe 5.x documents in the browser: parse what the API returns into an editable model and build
 * the JSON the API accepts, without losing anything the editor does not understand.
 *
 * Honoured (anchors.md, "LabelMe JSON specifics"): top-level `version`, `flags`, `shapes`,
 * `imagePath`, `imageData` (always written `null`: the image never travels inside the JSON),
 * `imageHeight`, `imageWidth`, and unknown top-level keys (kept and written back). Per shape:
 * `label`, `points`, `shape_type`, `group_id`, `flags`, `description`, `mask`, and unknown keys.
 * Labels: `femur`, `tibia` polygons and `hip`, `knee`, `ankle` points; `group_id` is the leg.
 */

import type { Point } from "./geometry";

export type Bone = "femur" | "tibia";
export type Joint = "hip" | "knee" | "ankle";
export type Canonical = Bone | Joint;

export const BONES: readonly Bone[] = ["femur", "tibia"];
export const JOINTS: readonly Joint[] = ["hip", "knee", "ankle"];

export interface Shape {
  /** Client-side identity (selection, undo, merge); never sent to the server. */
  uid: string;
  label: string;
  points: Point[];
  shape_type: string;
  group_id: number | null;
  flags: Record<string, boolean>;
  description: string;
  /** Keys of the shape the editor does not know (LabelMe `other_data`, `mask`, ...), written back. */
  extra: Record<string, unknown>;
}

export interface Doc {
  version: string;
  flags: Record<string, boolean>;
  shapes: Shape[];
  imagePath: string;
  imageHeight: number;
  imageWidth: number;
  /** Unknown top-level keys (LabelMe `otherData`), written back unchanged. */
  extra: Record<string, unknown>;
}

export const LABELME_VERSION = "5.2.1";

const KNOWN_TOP = new Set(["version", "flags", "shapes", "imagePath", "imageData", "imageHeight", "imageWidth"]);
const KNOWN_SHAPE = new Set(["label", "points", "shape_type", "group_id", "flags", "description"]);

const SYNONYMS: Record<string, Canonical> = {
  femur: "femur", femur_mask: "femur", femur_polygon: "femur", femoral_bone: "femur",
  tibia: "tibia", tibia_mask: "tibia", tibia_polygon: "tibia", tibial_bone: "tibia",
  hip: "hip", hip_center: "hip", hip_centre: "hip", femoral_head_center: "hip", femoral_head_centre: "hip",
  femoral_head: "hip",
  knee: "knee", knee_center: "knee", knee_centre: "knee", tibial_spine_center: "knee", tibial_plateau_center: "knee",
  ankle: "ankle", ankle_center: "ankle", ankle_centre: "ankle", tibial_plafond_center: "ankle",
  plafond_center: "ankle", talus_center: "ankle",
};

/** `"Femoral head-centre"` → `"hip"`; unknown labels → null (same normalisation as the server). */
export function canonicalLabel(label: string): Canonical | null {
  const key = label.trim().toLowerCase().replace(/[\s\-_./]+/g, "_").replace(/^_+|_+$/g, "");
  return SYNONYMS[key] ?? null;
}

export function isJoint(c: Canonical | null): c is Joint {
  return c === "hip" || c === "knee" || c === "ankle";
}

export function isBone(c: Canonical | null): c is Bone {
  return c === "femur" || c === "tibia";
}

let uidCounter = 0;
export function newUid(): string {
  uidCounter += 1;
  return `s${Date.now().toString(36)}${uidCounter.toString(36)}`;
}

function asPoint(value: unknown): Point {
  if (!Array.isArray(value) || value.length < 2) throw new Error("a point must be [x, y]");
  const x = Number(value[0]);
  const y = Number(value[1]);
  if (!Number.isFinite(x) || !Number.isFinite(y)) throw new Error("a point must hold finite numbers");
  return [x, y];
}

export function parseShape(raw: Record<string, unknown>): Shape {
  if (typeof raw.label !== "string") throw new Error("shape without a label");
  if (!Array.isArray(raw.points) || raw.points.length === 0) throw new Error(`shape ${raw.label} has no points`);
  const extra: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) if (!KNOWN_SHAPE.has(key)) extra[key] = value;
  const groupId = raw.group_id;
  return {
    uid: newUid(),
    label: raw.label,
    points: raw.points.map(asPoint),
    shape_type: typeof raw.shape_type === "string" ? raw.shape_type : "polygon",
    group_id: typeof groupId === "number" && Number.isFinite(groupId) ? groupId : null,
    flags: raw.flags && typeof raw.flags === "object" ? { ...(raw.flags as Record<string, boolean>) } : {},
    description: typeof raw.description === "string" ? raw.description : "",
    extra,
  };
}

/** Parse a LabelMe dict (as the API returns it). A missing document gives an empty one of that size. */
export function parseDocument(raw: unknown, size: { width: number; height: number; imagePath?: string }): Doc {
  if (raw === null || raw === undefined) return emptyDocument(size);
  if (typeof raw !== "object" || Array.isArray(raw)) throw new Error("a LabelMe document must be an object");
  const obj = raw as Record<string, unknown>;
  const extra: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(obj)) if (!KNOWN_TOP.has(key)) extra[key] = value;
  const shapes = Array.isArray(obj.shapes) ? obj.shapes.map((s) => parseShape(s as Record<string, unknown>)) : [];
  return {
    version: typeof obj.version === "string" ? obj.version : LABELME_VERSION,
    flags: obj.flags && typeof obj.flags === "object" ? { ...(obj.flags as Record<string, boolean>) } : {},
    shapes,
    imagePath: typeof obj.imagePath === "string" ? obj.imagePath : size.imagePath ?? "",
    imageHeight: typeof obj.imageHeight === "number" ? obj.imageHeight : size.height,
    imageWidth: typeof obj.imageWidth === "number" ? obj.imageWidth : size.width,
    extra,
  };
}

export function emptyDocument(size: { width: number; height: number; imagePath?: string }): Doc {
  return {
    version: LABELME_VERSION, flags: {}, shapes: [], imagePath: size.imagePath ?? "",
    imageHeight: size.height, imageWidth: size.width, extra: {},
  };
}

function round2(v: number): number {
  return Math.round(v * 100) / 100;
}

export function buildShape(shape: Shape): Record<string, unknown> {
  return {
    ...shape.extra,
    label: shape.label,
    points: shape.points.map(([x, y]) => [round2(x), round2(y)]),
    group_id: shape.group_id,
    description: shape.description,
    shape_type: shape.shape_type,
    flags: { ...shape.flags },
  };
}

/** The LabelMe 5.x JSON of `doc` (imageData null, coordinates rounded to 0.01 px). */
export function buildDocument(doc: Doc): Record<string, unknown> {
  return {
    ...doc.extra,
    version: doc.version || LABELME_VERSION,
    flags: { ...doc.flags },
    shapes: doc.shapes.map(buildShape),
    imagePath: doc.imagePath,
    imageData: null,
    imageHeight: doc.imageHeight,
    imageWidth: doc.imageWidth,
  };
}

export function cloneShape(shape: Shape, keepUid = true): Shape {
  return {
    ...shape,
    uid: keepUid ? shape.uid : newUid(),
    points: shape.points.map((p) => [p[0], p[1]] as Point),
    flags: { ...shape.flags },
    extra: structuredCloneSafe(shape.extra),
  };
}

export function cloneDocument(doc: Doc): Doc {
  return { ...doc, flags: { ...doc.flags }, shapes: doc.shapes.map((s) => cloneShape(s)), extra: structuredCloneSafe(doc.extra) };
}

function structuredCloneSafe<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}

/** Serialised content of a shape without its uid: equal strings mean the same annotation. */
export function shapeSignature(shape: Shape): string {
  return JSON.stringify(buildShape(shape));
}

export function documentsEqual(a: Doc, b: Doc): boolean {
  return JSON.stringify(buildDocument(a)) === JSON.stringify(buildDocument(b));
}

/** The shape for a joint of a leg (first match), or undefined. */
export function findJoint(doc: Doc, joint: Joint, leg: number | null): Shape | undefined {
  return doc.shapes.find(
    (s) => s.shape_type === "point" && canonicalLabel(s.label) === joint && (s.group_id ?? 0) === (leg ?? 0),
  );
}

export function findBone(doc: Doc, bone: Bone, leg: number | null): Shape | undefined {
  return doc.shapes.find(
    (s) => s.shape_type === "polygon" && canonicalLabel(s.label) === bone && (s.group_id ?? 0) === (leg ?? 0),
  );
}

export function makeShape(label: string, points: Point[], shapeType: string, groupId: number | null): Shape {
  return {
    uid: newUid(), label, points: points.map((p) => [p[0], p[1]] as Point), shape_type: shapeType,
    group_id: groupId, flags: {}, description: "", extra: {},
  };
}
