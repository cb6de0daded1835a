/**
 * The SVG overlay above the image canvas. Shapes live in image coordinates inside one group whose
 * transform is the view, so pan/zoom changes a single attribute; strokes use
 * `vector-effect: non-scaling-stroke` and markers get their radius re-set from a screen size.
 * Text (metric labels, joint names) is drawn in screen coordinates and re-laid out on view changes.
 */

import { declutter, type LabelBox } from "../core/labelLayout";
import { groupSide, groupTitle } from "../core/legSides";
import type { Point } from "../core/geometry";
import { formatPx, segmentLength } from "../core/calibration";
import { legOverlay, type LegBones } from "../core/angleOverlay";
import { distance } from "../core/geometry";
import type { LegAlignmentJson } from "../api/types";
import { canonicalLabel, type Doc, type Shape } from "../core/labelme";
import { imageToScreen } from "../core/viewport";
import { clear, svg } from "../ui/dom";
import type { EditorStore, OverlayLayer } from "./store";

export const LABEL_COLOURS: Record<string, string> = {
  femur: "#ff5a5a",
  tibia: "#4fdc6a",
  hip: "#ffd000",
  knee: "#00c8ff",
  ankle: "#ff66ff",
  other: "#ffffff",
};

export function colourFor(label: string): string {
  return LABEL_COLOURS[canonicalLabel(label) ?? "other"];
}

const JOINT_ABBR: Record<string, string> = { hip: "H", knee: "K", ankle: "A" };

function pointsAttr(points: readonly Point[]): string {
  return points.map(([x, y]) => `${x.toFixed(2)},${y.toFixed(2)}`).join(" ");
}

export class Overlay {
  readonly root: SVGSVGElement;
  private readonly viewGroup: SVGGElement;
  private readonly layersGroup: SVGGElement;
  private readonly workingGroup: SVGGElement;
  private readonly anglesGroup: SVGGElement;
  private readonly draftGroup: SVGGElement;
  private readonly handlesGroup: SVGGElement;
  private readonly screenGroup: SVGGElement;

  constructor(private readonly store: EditorStore) {
    this.root = svg("svg", { id: "overlay", class: "overlay", xmlns: "http://www.w3.org/2000/svg" });
    this.viewGroup = svg("g", { class: "view" });
    this.layersGroup = svg("g", { class: "layer-readonly" });
    this.workingGroup = svg("g", { class: "layer-working" });
    this.anglesGroup = svg("g", { class: "layer-angles" });
    this.draftGroup = svg("g", { class: "layer-draft" });
    this.handlesGroup = svg("g", { class: "layer-handles" });
    this.screenGroup = svg("g", { class: "layer-screen" });
    this.viewGroup.append(this.layersGroup, this.workingGroup, this.anglesGroup, this.draftGroup, this.handlesGroup);
    this.root.append(this.viewGroup, this.screenGroup);

    store.on("doc", () => {
      this.renderWorking();
      this.renderHandles();
      this.renderScreen();
    });
    store.on("selection", () => {
      this.renderWorking();
      this.renderHandles();
    });
    store.on("layers", () => {
      this.renderLayers();
      this.renderWorking();
      this.renderAngles();
      this.renderScreen();
    });
    store.on("alignment", () => {
      this.renderAngles();
      this.renderScreen();
    });
    store.on("draw", () => this.renderDraft());
    store.on("sam", () => this.renderDraft());
    for (const topic of ["tool", "calibration"] as const) {
      store.on(topic, () => {
        this.renderDraft();
        this.renderScreen();
      });
    }
    store.on("view", () => this.applyView());
  }

  resize(width: number, height: number): void {
    this.root.setAttribute("width", String(width));
    this.root.setAttribute("height", String(height));
    this.root.setAttribute("viewBox", `0 0 ${width} ${height}`);
  }

  renderAll(): void {
    this.renderLayers();
    this.renderWorking();
    this.renderAngles();
    this.renderDraft();
    this.renderHandles();
    this.applyView();
  }

  /** New view transform: one attribute, marker radii, and the screen-space text. */
  applyView(): void {
    const { scale, tx, ty } = this.store.view;
    this.viewGroup.setAttribute("transform", `matrix(${scale} 0 0 ${scale} ${tx} ${ty})`);
    this.resizeMarkers(this.root);
    this.renderScreen();
  }

  private resizeMarkers(scope: Element): void {
    const scale = this.store.view.scale;
    scope.querySelectorAll<SVGCircleElement>("circle[data-px]").forEach((c) => {
      c.setAttribute("r", String(Number(c.dataset.px) / scale));
    });
    scope.querySelectorAll<SVGRectElement>("rect[data-px]").forEach((r) => {
      const size = Number(r.dataset.px) / scale;
      const [x, y] = (r.dataset.at ?? "0,0").split(",").map(Number);
      r.setAttribute("x", String(x - size / 2));
      r.setAttribute("y", String(y - size / 2));
      r.setAttribute("width", String(size));
      r.setAttribute("height", String(size));
    });
  }

  private marker(at: Point, px: number, attrs: Record<string, unknown>): SVGCircleElement {
    return svg("circle", { cx: at[0].toFixed(2), cy: at[1].toFixed(2), r: px / this.store.view.scale, "data-px": px, ...attrs });
  }

  private shapeElement(shape: Shape, attrs: Record<string, unknown>, readOnly: boolean): SVGElement {
    const canonical = canonicalLabel(shape.label) ?? "other";
    const colour = colourFor(shape.label);
    const common = { "data-label": canonical, "data-uid": shape.uid, "data-leg": shape.group_id ?? "" };
    const title = svg("title", {}, `${shape.label}${shape.group_id === null ? "" : ` (${groupTitle(this.store.doc, shape.group_id, this.store.alignment).text.toLowerCase()})`}`);
    if (shape.shape_type === "point") {
      return this.marker(shape.points[0], readOnly ? 4 : 6, {
        class: readOnly ? "ro-point" : "shape shape-point", fill: colour, stroke: "#000", "stroke-width": 1.5,
        "vector-effect": "non-scaling-stroke", ...common, ...attrs,
      });
    }
    const closed = shape.shape_type === "polygon" || shape.shape_type === "rectangle";
    const el = svg(closed ? "polygon" : "polyline", {
      class: readOnly ? "ro-shape" : "shape shape-polygon", points: pointsAttr(shape.points), fill: closed && !readOnly ? colour : "none",
      "fill-opacity": 0.18, stroke: colour, "stroke-width": 2, "vector-effect": "non-scaling-stroke", ...common, ...attrs,
    });
    if (!closed && !readOnly) el.setAttribute("class", "shape shape-line");
    el.append(title);
    return el;
  }

  renderWorking(): void {
    clear(this.workingGroup);
    if (!this.store.workingVisible) return;
    const selected = this.store.selection.uid;
    for (const shape of this.store.doc.shapes) {
      const isSelected = shape.uid === selected;
      const el = this.shapeElement(shape, isSelected ? { "stroke-width": 3 } : {}, false);
      if (isSelected) el.classList.add("selected");
      if (shape.group_id === 1 && shape.shape_type !== "point") el.setAttribute("stroke-dasharray", "10 4");
      this.workingGroup.append(el);
    }
  }

  renderHandles(): void {
    clear(this.handlesGroup);
    const { uid, vertex } = this.store.selection;
    const shape = uid ? this.store.doc.shapes.find((s) => s.uid === uid) : undefined;
    if (!shape || shape.shape_type === "point" || !this.store.workingVisible) return;
    shape.points.forEach((p, i) => {
      this.handlesGroup.append(this.marker(p, i === vertex ? 6 : 4, {
        class: i === vertex ? "vertex-handle active" : "vertex-handle", "data-index": i,
        fill: i === vertex ? "#ffffff" : colourFor(shape.label), stroke: "#000", "stroke-width": 1,
        "vector-effect": "non-scaling-stroke",
      }));
    });
  }

  renderLayers(): void {
    clear(this.layersGroup);
    for (const layer of this.store.layers) {
      if (!layer.visible) continue;
      const g = svg("g", { class: `ro-layer`, "data-layer": layer.id });
      if (layer.kind === "document" && layer.doc) this.appendDocLayer(g, layer.doc, layer);
      if (layer.kind === "joints" && layer.joints) this.appendJointsLayer(g, layer);
      this.layersGroup.append(g);
    }
  }

  private appendDocLayer(g: SVGGElement, doc: Doc, layer: OverlayLayer): void {
    for (const shape of doc.shapes) {
      const el = this.shapeElement(shape, { "stroke-dasharray": "6 5", "stroke-opacity": 0.9 }, true);
      if (layer.colour) el.setAttribute("stroke", layer.colour);
      g.append(el);
    }
  }

  private appendJointsLayer(g: SVGGElement, layer: OverlayLayer): void {
    for (const leg of layer.joints ?? []) {
      leg.forEach((p, j) => {
        if (!Array.isArray(p) || p.length < 2) return;
        const at: Point = [p[0], p[1]];
        g.append(this.marker(at, 3.5, {
          class: "member-point", fill: "none", stroke: layer.colour ?? "#fff", "stroke-width": 1.5,
          "vector-effect": "non-scaling-stroke", "data-joint": ["hip", "knee", "ankle"][j] ?? "",
        }));
      });
    }
  }

  /** The working document's femur outline nearest to this leg's knee. */
  private bonesFor(leg: LegAlignmentJson): LegBones {
    const knee = leg.joints?.knee;
    if (!knee) return {};
    let best: Shape | undefined;
    let bestDistance = Infinity;
    for (const shape of this.store.doc.shapes) {
      if (shape.shape_type !== "polygon" || canonicalLabel(shape.label) !== "femur") continue;
      const d = Math.min(...shape.points.map((p) => distance(p, knee)));
      if (d < bestDistance) {
        best = shape;
        bestDistance = d;
      }
    }
    return best ? { femur: best.points } : {};
  }

  renderAngles(): void {
    clear(this.anglesGroup);
    const alignment = this.store.alignment;
    if (!alignment || !this.store.anglesVisible) return;
    alignment.legs.forEach((leg, i) => {
      const overlay = legOverlay(leg, i, alignment.legs.length, this.bonesFor(leg));
      const g = svg("g", { class: "angles-leg", "data-leg": i });
      for (const seg of overlay.segments) {
        g.append(svg("line", {
          class: `axis axis-${seg.kind}`, x1: seg.a[0], y1: seg.a[1], x2: seg.b[0], y2: seg.b[1],
          "vector-effect": "non-scaling-stroke", "data-name": seg.name ?? seg.kind,
        }));
      }
      for (const cora of overlay.cora) {
        g.append(this.marker(cora.at, 7, { class: "cora", "vector-effect": "non-scaling-stroke", "data-metric": cora.metric }));
      }
      for (const point of overlay.points) {
        const marker = this.marker(point.at, 4, { class: "landmark-point", "vector-effect": "non-scaling-stroke", "data-name": point.name });
        marker.append(svg("title", {}, point.name.replace(/_/g, " ")));
        g.append(marker);
      }
      this.anglesGroup.append(g);
    });
  }

  renderDraft(): void {
    clear(this.draftGroup);
    const store = this.store;
    if (store.tool === "polygon" && store.drawing.length) {
      const pts = store.cursor ? [...store.drawing, store.cursor] : store.drawing;
      this.draftGroup.append(svg("polyline", {
        class: "drawing", points: pointsAttr(pts), fill: "none", stroke: colourFor(store.label.bone),
        "stroke-width": 2, "vector-effect": "non-scaling-stroke", "stroke-dasharray": "4 3",
      }));
      store.drawing.forEach((p, i) => this.draftGroup.append(this.marker(p, i === 0 ? 6 : 4, {
        class: i === 0 ? "drawing-vertex first" : "drawing-vertex", fill: i === 0 ? "#fff" : colourFor(store.label.bone),
        stroke: "#000", "vector-effect": "non-scaling-stroke",
      })));
    }
    this.renderCalibration();
    if (store.tool === "sam") {
      const sam = store.sam;
      for (const polygon of sam.polygons) {
        this.draftGroup.append(svg("polygon", {
          class: "sam-draft", points: pointsAttr(polygon), fill: colourFor(store.label.bone), "fill-opacity": 0.2,
          stroke: "#ffe066", "stroke-width": 2, "vector-effect": "non-scaling-stroke", "stroke-dasharray": "6 3",
        }));
      }
      if (sam.box) {
        const [x0, y0, x1, y1] = sam.box;
        this.draftGroup.append(svg("rect", {
          class: "sam-box", x: Math.min(x0, x1), y: Math.min(y0, y1), width: Math.abs(x1 - x0), height: Math.abs(y1 - y0),
          fill: "none", stroke: "#ffe066", "stroke-width": 1.5, "vector-effect": "non-scaling-stroke", "stroke-dasharray": "5 4",
        }));
      }
      sam.points.forEach((p, i) => this.draftGroup.append(this.marker(p, 6, {
        class: sam.labels[i] === 1 ? "sam-point positive" : "sam-point negative",
        fill: sam.labels[i] === 1 ? "#2fd34f" : "#ff4040", stroke: "#fff", "stroke-width": 1.5, "vector-effect": "non-scaling-stroke",
      })));
    }
  }

  /**
   * The calibrate tool's segment: the one being drawn (its second end follows the cursor), else the
   * calibration in force (its points and known length from the server).
   */
  private calibrationSegment(): { points: Point[]; label: string; kind: "draft" | "current" } | null {
    const store = this.store;
    if (store.tool !== "calibrate") return null;
    const { points, provenance } = store.calibration;
    if (points.length === 2) return { points, label: formatPx(segmentLength(points)), kind: "draft" };
    if (points.length === 1) {
      const ends = store.cursor ? [points[0], store.cursor] : points;
      return { points: ends, label: ends.length === 2 ? formatPx(segmentLength(ends)) : "", kind: "draft" };
    }
    const current = provenance?.current;
    if (current && current.points.length === 2) {
      return { points: current.points, label: `${current.known_length_mm} mm · ${formatPx(segmentLength(current.points))}`, kind: "current" };
    }
    return null;
  }

  private renderCalibration(): void {
    const segment = this.calibrationSegment();
    if (!segment) return;
    const g = svg("g", { class: `calibration calibration-${segment.kind}` });
    const [a, b] = segment.points;
    if (a && b) {
      g.append(svg("line", {
        class: "calibration-segment", x1: a[0], y1: a[1], x2: b[0], y2: b[1], "vector-effect": "non-scaling-stroke",
      }));
    }
    for (const p of segment.points) g.append(this.marker(p, 4, { class: "calibration-end", "vector-effect": "non-scaling-stroke" }));
    this.draftGroup.append(g);
  }

  /** Screen-space text: joint tags, the calibration segment's length and metric labels. */
  renderScreen(): void {
    clear(this.screenGroup);
    const view = this.store.view;
    const segment = this.calibrationSegment();
    if (segment?.label && segment.points.length === 2) {
      const [a, b] = segment.points.map((p) => imageToScreen(view, p));
      const length = Math.hypot(b[0] - a[0], b[1] - a[1]) || 1;
      // Beside the middle of the segment, on its right-hand side (screen), clear of the line.
      const nx = -(b[1] - a[1]) / length;
      const ny = (b[0] - a[0]) / length;
      const side = nx >= 0 ? 1 : -1;
      this.screenGroup.append(svg("text", {
        class: `calibration-label calibration-${segment.kind}`, id: "calibration-label",
        x: (a[0] + b[0]) / 2 + side * nx * 10, y: (a[1] + b[1]) / 2 + side * ny * 10 + 4, "text-anchor": "start",
      }, segment.label));
    }
    // Joint tags stay on their joints; metric and CORA labels move out of each other's way.
    const placed: { el: SVGTextElement; fixed: boolean }[] = [];
    if (this.store.workingVisible) {
      for (const shape of this.store.doc.shapes) {
        const canonical = canonicalLabel(shape.label);
        if (shape.shape_type !== "point" || !canonical || !(canonical in JOINT_ABBR)) continue;
        const [x, y] = imageToScreen(view, shape.points[0]);
        const side = shape.group_id === null ? "" : groupSide(this.store.doc, shape.group_id, this.store.alignment) === "right" ? "R" : "L";
        const el = svg("text", { class: "joint-tag", x: x + 9, y: y - 7 }, `${JOINT_ABBR[canonical]}${side}`) as SVGTextElement;
        this.screenGroup.append(el);
        placed.push({ el, fixed: true });
      }
    }
    const alignment = this.store.alignment;
    if (alignment && this.store.anglesVisible) {
      alignment.legs.forEach((leg, i) => {
        const overlay = legOverlay(leg, i, alignment.legs.length, this.bonesFor(leg));
        for (const label of overlay.labels) {
          const [x, y] = imageToScreen(view, label.at);
          const dx = label.side * 16;
          const el = svg("text", {
            class: `metric-label status-${label.status}`, x: x + dx, y: y + label.line * 16 + 4,
            "text-anchor": label.side < 0 ? "end" : "start", "data-metric": label.metric, "data-leg": i,
          }, label.text) as SVGTextElement;
          this.screenGroup.append(el);
          placed.push({ el, fixed: false });
        }
        for (const cora of overlay.cora) {
          const [x, y] = imageToScreen(view, cora.at);
          const el = svg("text", {
            class: "metric-label cora-label", x: x + cora.side * 12, y: y + 4, "text-anchor": cora.side < 0 ? "end" : "start", "data-metric": cora.metric, "data-leg": i,
          }, cora.text) as SVGTextElement;
          this.screenGroup.append(el);
          placed.push({ el, fixed: false });
        }
      });
    }
    const boxes = placed.map(({ el, fixed }) => ({ ...textBox(el), fixed }));
    declutter(boxes).forEach((y, i) => {
      if (y !== boxes[i].y) placed[i].el.setAttribute("y", String(Number(placed[i].el.getAttribute("y")) + (y - boxes[i].y)));
    });
  }
}

/** A text element's screen box (its bounding box when rendered, else an estimate from its length). */
function textBox(el: SVGTextElement): LabelBox {
  try {
    const b = el.getBBox();
    if (b.width > 0) return { x: b.x, y: b.y, width: b.width, height: b.height };
  } catch {
    // not rendered (hidden): estimate below
  }
  const x = Number(el.getAttribute("x"));
  const y = Number(el.getAttribute("y"));
  const width = (el.textContent ?? "").length * 7;
  const start = el.getAttribute("text-anchor") === "end" ? x - width : x;
  return { x: start, y: y - 12, width, height: 15 };
}
