/**
 * Pointer and wheel input on the stage, turned into edits through the current tool.
 *
 * Buttons: left = the tool; middle, or left with Space held = pan; right = window/level drag (in the
 * SAM tool: a negative click). The wheel zooms around the cursor. A press that moves less than
 * CLICK_SLOP screen pixels is a click.
 */

import { clampPoint, distance, type Point } from "../core/geometry";
import { hitTest, insertShapeVertex, moveShapeVertex, setJoint, shapeByUid, translateShape } from "../core/edits";
import type { Doc } from "../core/labelme";
import { pan, screenToImage, wheelZoomFactor, zoomAt, type View } from "../core/viewport";
import { dragWindowing, type Windowing } from "../core/windowing";
import type { EditorStore } from "./store";

const CLICK_SLOP = 4;
const HIT_TOLERANCE_PX = 8;

export interface EditorActions {
  closePolygon(): void;
  samChanged(): void;
  afterJointPlaced(): void;
  insertVertexAtSelectedEdge(at: Point): boolean;
  calibrationClick(at: Point): void;
}

type Drag =
  | { kind: "pan"; start: Point; view: View }
  | { kind: "windowing"; start: Point; windowing: Windowing }
  | { kind: "vertex"; uid: string; index: number; startDoc: Doc; moved: boolean; start: Point }
  | { kind: "shape"; uid: string; startImage: Point; startDoc: Doc; moved: boolean; start: Point }
  | { kind: "click"; start: Point; button: number; shift: boolean; alt: boolean; then: "pan" | "box" }
  | { kind: "box"; start: Point; startImage: Point };

export class Interaction {
  spaceDown = false;
  private drag: Drag | null = null;

  constructor(
    private readonly stage: HTMLElement,
    private readonly store: EditorStore,
    private readonly actions: EditorActions,
  ) {
    stage.addEventListener("pointerdown", (e) => this.onDown(e));
    stage.addEventListener("pointermove", (e) => this.onMove(e));
    stage.addEventListener("pointerup", (e) => this.onUp(e));
    stage.addEventListener("pointercancel", () => this.cancel());
    stage.addEventListener("lostpointercapture", () => {
      if (this.drag) this.finish();
    });
    stage.addEventListener("wheel", (e) => this.onWheel(e), { passive: false });
    stage.addEventListener("contextmenu", (e) => e.preventDefault());
    stage.addEventListener("dblclick", (e) => this.onDoubleClick(e));
    stage.addEventListener("pointerleave", () => {
      this.store.cursor = null;
      if (this.store.tool === "polygon") this.store.emit("draw");
      if (this.store.tool === "calibrate") this.store.emit("calibration");
    });
  }

  get dragging(): boolean {
    return this.drag !== null;
  }

  private screenPoint(e: MouseEvent): Point {
    const rect = this.stage.getBoundingClientRect();
    return [e.clientX - rect.left, e.clientY - rect.top];
  }

  private imagePoint(screen: Point): Point {
    return screenToImage(this.store.view, screen);
  }

  private clamped(p: Point): Point {
    return clampPoint(p, this.store.imageWidth, this.store.imageHeight);
  }

  private get tolerance(): number {
    return HIT_TOLERANCE_PX / this.store.view.scale;
  }

  private onDown(e: PointerEvent): void {
    this.stage.focus({ preventScroll: true });
    const screen = this.screenPoint(e);
    const image = this.imagePoint(screen);
    const store = this.store;
    this.stage.setPointerCapture(e.pointerId);
    if (e.button === 1 || (e.button === 0 && this.spaceDown)) {
      e.preventDefault();
      this.drag = { kind: "pan", start: screen, view: store.view };
      this.stage.classList.add("panning");
      return;
    }
    if (e.button === 2) {
      if (store.tool === "sam") this.drag = { kind: "click", start: screen, button: 2, shift: e.shiftKey, alt: e.altKey, then: "pan" };
      else this.drag = { kind: "windowing", start: screen, windowing: store.windowing };
      return;
    }
    if (e.button !== 0) return;
    switch (store.tool) {
      case "select": {
        const hit = hitTest(store.doc, image, this.tolerance, store.selection.uid);
        if (!hit) {
          store.select(null);
          this.drag = { kind: "pan", start: screen, view: store.view };
          return;
        }
        if (hit.kind === "point" || hit.kind === "vertex") {
          store.select(hit.uid, hit.kind === "vertex" ? hit.index : null);
          this.drag = { kind: "vertex", uid: hit.uid, index: hit.index, startDoc: store.doc, moved: false, start: screen };
        } else {
          store.select(hit.uid);
          this.drag = { kind: "shape", uid: hit.uid, startImage: image, startDoc: store.doc, moved: false, start: screen };
        }
        return;
      }
      case "insert": {
        const hit = hitTest(store.doc, image, this.tolerance, store.selection.uid);
        if (hit?.kind === "edge" && hit.at) {
          const doc = insertShapeVertex(store.doc, hit.uid, hit.index, hit.at);
          store.commit(doc);
          store.select(hit.uid, hit.index + 1);
          this.drag = { kind: "vertex", uid: hit.uid, index: hit.index + 1, startDoc: doc, moved: false, start: screen };
        } else if (hit) {
          store.select(hit.uid, hit.kind === "vertex" ? hit.index : null);
          if (hit.kind === "vertex" || hit.kind === "point") {
            this.drag = { kind: "vertex", uid: hit.uid, index: hit.index, startDoc: store.doc, moved: false, start: screen };
          }
        } else {
          this.drag = { kind: "pan", start: screen, view: store.view };
        }
        return;
      }
      case "polygon":
      case "point":
      case "calibrate":
        this.drag = { kind: "click", start: screen, button: 0, shift: e.shiftKey, alt: e.altKey, then: "pan" };
        return;
      case "sam":
        this.drag = { kind: "click", start: screen, button: 0, shift: e.shiftKey, alt: e.altKey, then: "box" };
        return;
    }
  }

  private onMove(e: PointerEvent): void {
    const screen = this.screenPoint(e);
    const image = this.imagePoint(screen);
    const store = this.store;
    store.cursor = image;
    const pos = document.getElementById("cursor-pos");
    if (pos) pos.textContent = `x ${image[0].toFixed(0)}  y ${image[1].toFixed(0)}`;
    if (store.tool === "polygon" && store.drawing.length) store.emit("draw");
    if (store.tool === "calibrate" && store.calibration.points.length === 1) store.emit("calibration");
    const drag = this.drag;
    if (!drag) return;
    switch (drag.kind) {
      case "pan":
        store.autoFit = false;
        store.setView(pan(drag.view, screen[0] - drag.start[0], screen[1] - drag.start[1]));
        return;
      case "windowing":
        store.setWindowing(dragWindowing(drag.windowing, screen[0] - drag.start[0], screen[1] - drag.start[1]));
        return;
      case "vertex": {
        if (!drag.moved && distance(screen, drag.start) < CLICK_SLOP) return;
        drag.moved = true;
        store.preview(moveShapeVertex(drag.startDoc, drag.uid, drag.index, this.clamped(image)));
        return;
      }
      case "shape": {
        if (!drag.moved && distance(screen, drag.start) < CLICK_SLOP) return;
        drag.moved = true;
        store.preview(translateShape(drag.startDoc, drag.uid, image[0] - drag.startImage[0], image[1] - drag.startImage[1]));
        return;
      }
      case "click": {
        if (distance(screen, drag.start) < CLICK_SLOP) return;
        if (drag.then === "box" && drag.button === 0) {
          this.drag = { kind: "box", start: drag.start, startImage: this.clamped(this.imagePoint(drag.start)) };
        } else {
          this.drag = { kind: "pan", start: drag.start, view: store.view };
          this.stage.classList.add("panning");
        }
        this.onMove(e);
        return;
      }
      case "box": {
        const end = this.clamped(image);
        store.sam.box = [drag.startImage[0], drag.startImage[1], end[0], end[1]];
        store.emit("sam");
        return;
      }
    }
  }

  private onUp(e: PointerEvent): void {
    const drag = this.drag;
    if (!drag) return;
    const image = this.clamped(this.imagePoint(this.screenPoint(e)));
    if (drag.kind === "click") this.click(drag, image);
    this.finish();
  }

  private click(drag: Extract<Drag, { kind: "click" }>, image: Point): void {
    const store = this.store;
    if (store.tool === "polygon") {
      const first = store.drawing[0];
      if (store.drawing.length >= 3 && first && distance(first, image) <= this.tolerance) {
        this.actions.closePolygon();
        return;
      }
      store.drawing = [...store.drawing, image];
      store.emit("draw");
    } else if (store.tool === "point") {
      const { doc, uid } = setJoint(store.doc, store.label.joint, store.label.leg, image);
      store.commit(doc);
      store.select(uid);
      this.actions.afterJointPlaced();
    } else if (store.tool === "sam") {
      const negative = drag.button === 2 || drag.shift || drag.alt;
      store.sam.points = [...store.sam.points, image];
      store.sam.labels = [...store.sam.labels, negative ? 0 : 1];
      store.emit("sam");
      this.actions.samChanged();
    } else if (store.tool === "calibrate") {
      this.actions.calibrationClick(image);
    }
  }

  /** End the current drag, committing an edit it made. */
  private finish(): void {
    const drag = this.drag;
    this.drag = null;
    this.stage.classList.remove("panning");
    if (!drag) return;
    if ((drag.kind === "vertex" || drag.kind === "shape") && drag.moved) {
      this.store.commit(this.store.doc);
    } else if (drag.kind === "box") {
      const box = this.store.sam.box;
      if (box) {
        this.store.sam.box = [Math.min(box[0], box[2]), Math.min(box[1], box[3]), Math.max(box[0], box[2]), Math.max(box[1], box[3])];
        this.actions.samChanged();
      }
    }
  }

  cancel(): void {
    const drag = this.drag;
    this.drag = null;
    this.stage.classList.remove("panning");
    if (drag && (drag.kind === "vertex" || drag.kind === "shape") && drag.moved) this.store.cancelPreview();
  }

  private onWheel(e: WheelEvent): void {
    e.preventDefault();
    const anchor = this.screenPoint(e);
    this.store.autoFit = false;
    this.store.setView(zoomAt(this.store.view, anchor, wheelZoomFactor(e.deltaY, e.deltaMode)));
  }

  private onDoubleClick(e: MouseEvent): void {
    const store = this.store;
    const image = this.clamped(this.imagePoint(this.screenPoint(e)));
    if (store.tool === "polygon") {
      // The two clicks of the double-click added the same vertex twice: keep one, then close.
      const d = store.drawing;
      if (d.length >= 2 && distance(d[d.length - 1], d[d.length - 2]) <= this.tolerance) store.drawing = d.slice(0, -1);
      this.actions.closePolygon();
    } else if (store.tool === "select") {
      const selected = shapeByUid(store.doc, store.selection.uid);
      if (selected && selected.shape_type !== "point") this.actions.insertVertexAtSelectedEdge(image);
    }
  }
}
