/**
 * The editor's state and its change notifications. Views subscribe to topics and redraw only what
 * a change touched: "view" (pan/zoom) never redraws the image bitmap, "doc" never re-applies the
 * window/level table.
 */

import type { AlignmentJson, CalibrationProvenance, PredictionInfo } from "../api/types";
import type { Point } from "../core/geometry";
import { History } from "../core/history";
import { cloneDocument, type Bone, type Doc, type Joint } from "../core/labelme";
import type { View } from "../core/viewport";
import { DEFAULT_WINDOWING, type Windowing } from "../core/windowing";

export type Tool = "select" | "polygon" | "insert" | "point" | "sam" | "calibrate";
export type Topic = "doc" | "view" | "selection" | "tool" | "label" | "layers" | "windowing" | "draw" | "sam" | "alignment" | "saved" | "calibration";

export interface Selection {
  uid: string | null;
  vertex: number | null;
}

export interface LabelChoice {
  bone: Bone;
  joint: Joint;
  leg: number;
}

export interface OverlayLayer {
  id: string;
  title: string;
  kind: "document" | "joints";
  visible: boolean;
  /** LabelMe document (kind document) ... */
  doc?: Doc;
  /** ... or per-leg joints [[hip, knee, ankle], ...] (kind joints: one ensemble member). */
  joints?: Point[][];
  colour?: string;
}

export interface SamState {
  points: Point[];
  labels: number[];
  box: [number, number, number, number] | null;
  polygons: Point[][];
  score: number | null;
  busy: boolean;
  error: string | null;
  info: string | null;
  tolerance: number;
  model: string | null;
}

export interface CalibrationState {
  /** The ends of the segment being drawn (0, 1 or 2 points, image pixels). */
  points: Point[];
  /** The server's GET/POST answer: how the image's scale is known now. */
  provenance: CalibrationProvenance | null;
  busy: boolean;
  error: string | null;
}

export class EditorStore {
  doc: Doc;
  readonly history: History<Doc>;
  /** The revision the working document is based on (sent as base_revision), and its document. */
  baseRevision: number | null = null;
  baseRevisionNumber: number | null = null;
  baseDoc: Doc | null = null;
  selection: Selection = { uid: null, vertex: null };
  tool: Tool = "select";
  label: LabelChoice = { bone: "femur", joint: "hip", leg: 0 };
  layers: OverlayLayer[] = [];
  workingVisible = true;
  anglesVisible = true;
  windowing: Windowing = { ...DEFAULT_WINDOWING };
  view: View = { scale: 1, tx: 0, ty: 0 };
  /** Re-fit the image when the stage resizes, until the user pans or zooms. */
  autoFit = true;
  /** Vertices of the polygon being drawn. */
  drawing: Point[] = [];
  cursor: Point | null = null;
  sam: SamState = {
    points: [], labels: [], box: null, polygons: [], score: null, busy: false, error: null, info: null,
    tolerance: 2, model: null,
  };
  calibration: CalibrationState = { points: [], provenance: null, busy: false, error: null };
  alignment: AlignmentJson | null = null;
  alignmentError: string | null = null;
  /** The alignment shown is the fast estimate, not yet the full computation (angles.ts). */
  alignmentProvisional = false;
  /** The alignment shown is the model's prediction (the working copy has no joints yet; angles.ts). */
  alignmentFromModel = false;
  prediction: PredictionInfo | null = null;
  /** A SAM polygon was accepted since the last save (the revision's source is then sam_assisted). */
  samAssisted = false;

  private listeners = new Map<Topic, Set<() => void>>();

  constructor(readonly imageWidth: number, readonly imageHeight: number, doc: Doc) {
    this.doc = doc;
    this.history = new History<Doc>(doc);
  }

  on(topic: Topic, fn: () => void): () => void {
    if (!this.listeners.has(topic)) this.listeners.set(topic, new Set());
    this.listeners.get(topic)!.add(fn);
    return () => this.listeners.get(topic)?.delete(fn);
  }

  emit(...topics: Topic[]): void {
    for (const topic of topics) for (const fn of this.listeners.get(topic) ?? []) fn();
  }

  /** Record an edit as one undo step. */
  commit(doc: Doc): void {
    this.doc = doc;
    this.history.push(doc);
    this.dropStaleSelection();
    this.emit("doc", "selection");
  }

  /** Show an in-progress edit (a drag) without an undo step; `commit` it when it ends. */
  preview(doc: Doc): void {
    this.doc = doc;
    this.emit("doc");
  }

  /** Leave a drag without keeping it. */
  cancelPreview(): void {
    this.doc = this.history.current;
    this.emit("doc");
  }

  undo(): boolean {
    const doc = this.history.undo();
    if (!doc) return false;
    this.doc = doc;
    this.dropStaleSelection();
    this.emit("doc", "selection");
    return true;
  }

  redo(): boolean {
    const doc = this.history.redo();
    if (!doc) return false;
    this.doc = doc;
    this.dropStaleSelection();
    this.emit("doc", "selection");
    return true;
  }

  /** Start over from a document (a loaded revision): no undo across it. */
  load(doc: Doc, base: { id: number | null; number: number | null; doc: Doc | null }): void {
    this.doc = doc;
    this.history.reset(doc);
    this.baseRevision = base.id;
    this.baseRevisionNumber = base.number;
    this.baseDoc = base.doc ? cloneDocument(base.doc) : null;
    this.selection = { uid: null, vertex: null };
    this.emit("doc", "selection", "saved");
  }

  select(uid: string | null, vertex: number | null = null): void {
    this.selection = { uid, vertex };
    this.emit("selection");
  }

  setTool(tool: Tool): void {
    if (this.tool === tool) return;
    this.tool = tool;
    this.drawing = [];
    this.emit("tool", "draw");
  }

  setLabel(change: Partial<LabelChoice>): void {
    this.label = { ...this.label, ...change };
    this.emit("label");
  }

  setView(view: View): void {
    this.view = view;
    this.emit("view");
  }

  setWindowing(windowing: Windowing): void {
    this.windowing = windowing;
    this.emit("windowing");
  }

  private dropStaleSelection(): void {
    const shape = this.selection.uid ? this.doc.shapes.find((s) => s.uid === this.selection.uid) : undefined;
    if (!shape) this.selection = { uid: null, vertex: null };
    else if (this.selection.vertex !== null && this.selection.vertex >= shape.points.length) this.selection.vertex = null;
  }
}
