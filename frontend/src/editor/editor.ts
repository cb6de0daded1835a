/**
 * The image editor: wires the store, the image canvas, the SVG overlay, pointer input, tools,
 * SAM assist, the scale (calibrate tool), live angles, saving and (in review mode) the review decisions.
 *
 * Boot: page context (ids, role) → image + head revision (+ review item, + newest prediction) via
 * the REST API → a local draft, if one is newer → decode the display PNG once → first render.
 */

import { groupTitle } from "../core/legSides";
import { setNormalRanges, type NormalRangeTable } from "../core/normals";
import { api, urls } from "../api/endpoints";
import { ApiError } from "../api/http";
import type { ImageInfo, PredictionInfo, ReviewItem } from "../api/types";
import { debounce } from "../core/debounce";
import { deleteShape, deleteShapeVertex, hitTest, insertShapeVertex, shapeByUid } from "../core/edits";
import { draftKey } from "../core/drafts";
import type { Point } from "../core/geometry";
import { addPolygon } from "../core/edits";
import { buildDocument, documentsEqual, emptyDocument, JOINTS, parseDocument, type Doc, type Joint } from "../core/labelme";
import { sameContent } from "../core/merge";
import { fitView, imageToScreen, zoomAt } from "../core/viewport";
import { DEFAULT_WINDOWING, LEVEL_RANGE, WINDOW_RANGE } from "../core/windowing";
import { byId, clear, h, toast } from "../ui/dom";
import { AnglesController, renderAnglesPanel } from "./angles";
import { CalibrationController, CalibrationPanel } from "./calibration";
import { ImageLayer } from "./imageLayer";
import { Interaction } from "./interaction";
import { Overlay } from "./overlay";
import { renderLabelChooser, renderLayersPanel, renderShapesPanel, SamPanel, section } from "./panels";
import { headRevisionId, ReviewController } from "./review";
import { SamController } from "./sam";
import { SaveController } from "./save";
import { installShortcuts, toggleHelp, type Shortcut } from "./shortcuts";
import { EditorStore, type OverlayLayer, type Tool } from "./store";

export interface EditorContext {
  mode: "edit" | "review" | "read";
  image_id: number | null;
  review_item_id: number | null;
  /** Read mode: the reader study and how many of its images this reader has left (this one included). */
  study?: { id: number; name: string; remaining: number };
  user: { username: string; role: string; can_review: boolean };
  /** The server's normal ranges at the patient's age (clinical.core.normal_ranges.normal_range_table). */
  normal_ranges?: NormalRangeTable;
}

const MEMBER_COLOURS = ["#ffa94d", "#74c0fc", "#b197fc", "#63e6be", "#ffd43b", "#f783ac", "#a9e34b", "#4dabf7"];

const TOOLS: { tool: Tool; key: string; title: string; text: string }[] = [
  { tool: "select", key: "v", title: "Select / move (V)", text: "Select" },
  { tool: "polygon", key: "p", title: "Polygon: click vertices, Enter or double-click closes (P)", text: "Polygon" },
  { tool: "insert", key: "i", title: "Insert a vertex on an edge (I)", text: "Insert" },
  { tool: "point", key: "j", title: "Joint point: hip / knee / ankle of the chosen leg (J)", text: "Joint" },
  { tool: "sam", key: "s", title: "SAM assist: click, Shift/right-click, drag a box (S)", text: "SAM" },
  { tool: "calibrate", key: "c", title: "Calibrate the scale: click both ends of a ruler or calibration object (C)", text: "Calibrate" },
];

function newestSucceeded(predictions: PredictionInfo[]): PredictionInfo | null {
  return predictions.filter((p) => p.status === "succeeded" && p.document).sort((a, b) => b.created_at.localeCompare(a.created_at))[0] ?? null;
}

export class Editor {
  store!: EditorStore;
  image!: ImageInfo;
  private imageLayer!: ImageLayer;
  private overlay!: Overlay;
  private interaction!: Interaction;
  private sam!: SamController;
  private angles!: AnglesController;
  private calibration!: CalibrationController;
  private calibrationPanel: CalibrationPanel | null = null;
  private save!: SaveController;
  private review: ReviewController | null = null;
  private reviewItem: ReviewItem | null = null;
  private samPanel: SamPanel | null = null;
  private readonly stage = byId("stage");
  private readonly side = byId("side");

  constructor(readonly ctx: EditorContext) {
    setNormalRanges(ctx.normal_ranges);
  }

  /** The review item's stored flags (the pipeline's, e.g. "outside intended use"), for the angles panel. */
  private itemFlags(): string[] {
    const flags = this.reviewItem?.flags;
    return Array.isArray(flags) ? flags.map(String) : [];
  }

  async start(): Promise<void> {
    const message = byId("stage-message");
    try {
      await this.load();
    } catch (error) {
      message.textContent = `Could not open the image: ${(error as Error).message}`;
      message.classList.add("error");
      throw error;
    }
    message.hidden = true;
  }

  private async load(): Promise<void> {
    const ctx = this.ctx;
    let imageId = ctx.image_id;
    let predictionDoc: Record<string, unknown> | null = null;
    let prediction: PredictionInfo | null = null;
    if (ctx.mode === "review" && ctx.review_item_id !== null) {
      this.reviewItem = await api.reviewItem(ctx.review_item_id);
      imageId = this.reviewItem.image.id;
      predictionDoc = (this.reviewItem.document ?? (typeof this.reviewItem.prediction === "object" ? this.reviewItem.prediction?.document : null)) ?? null;
    }
    if (imageId === null) throw new Error("no image id");
    const [image, predictions] = await Promise.all([
      api.image(imageId),
      ctx.mode === "edit" ? api.predictions(imageId).catch(() => [] as PredictionInfo[]) : Promise.resolve([] as PredictionInfo[]),
    ]);
    this.image = image;
    prediction = newestSucceeded(predictions);
    const size = { width: image.width, height: image.height, imagePath: image.name };
    const headId = ctx.mode === "read" ? null  // blind: a reader starts from nothing
      : this.reviewItem ? headRevisionId(this.reviewItem) ?? image.head_revision : image.head_revision;
    const head = headId !== null ? await api.revision(headId) : null;
    const headDoc = head ? parseDocument(head.document, size) : null;

    // The working document: the head revision (edit) or the prediction (review).
    let working: Doc;
    let baseDoc: Doc | null;
    if (ctx.mode === "review") {
      working = parseDocument(predictionDoc, size);
      baseDoc = parseDocument(predictionDoc, size);
    } else {
      working = headDoc ?? emptyDocument(size);
      baseDoc = headDoc;
    }
    const store = new EditorStore(image.width, image.height, working);
    this.store = store;
    store.load(working, { id: head?.id ?? null, number: head?.number ?? null, doc: baseDoc });
    store.prediction = prediction;
    store.layers = this.buildLayers(headDoc, head?.number ?? null, prediction, predictionDoc);

    this.save = new SaveController(store, () => this.draftKey(), () => this.image?.id ?? null);
    await this.restoreDraft(size);

    await this.mountStage();
    this.angles = new AnglesController(store, () => this.image?.id ?? null);
    this.angles.baseIsRevision = ctx.mode !== "review"; // review: the base document is the prediction
    const stored = this.reviewItem?.alignment;
    if (stored && Array.isArray(stored.legs) && store.baseDoc) this.angles.reference = { doc: store.baseDoc, alignment: stored };
    if (ctx.mode === "edit" && head === null && prediction?.alignment) {
      // No revision yet (a fresh upload): open on what the model measured, its outlines shown.
      this.angles.modelAlignment = prediction.alignment;
      const layer = store.layers.find((l) => l.id === "prediction");
      if (layer) layer.visible = true;
      store.emit("layers");
    }
    this.sam = new SamController(store, () => this.image.id);
    this.calibration = new CalibrationController(store, () => this.image.id, (calibrated) => this.scaleChanged(calibrated));
    this.buildChrome();
    this.installShortcuts();
    this.exposeTestHook();
    void this.angles.compute(true); // the loaded document: computed as the report computes it
    void this.sam.loadModels();
    void this.calibration.load();
    document.body.dataset.editorReady = "1";
  }

  private draftKey(): string | null {
    if (this.ctx.mode === "review") return this.ctx.review_item_id === null ? null : draftKey(this.ctx.review_item_id, "review");
    if (this.ctx.mode === "read") return this.image && this.ctx.study ? draftKey(this.image.id, `read${this.ctx.study.id}`) : null;
    return this.image ? draftKey(this.image.id) : null;
  }

  private buildLayers(headDoc: Doc | null, headNumber: number | null, prediction: PredictionInfo | null, reviewPrediction: Record<string, unknown> | null): OverlayLayer[] {
    const layers: OverlayLayer[] = [];
    const size = { width: this.image.width, height: this.image.height };
    if (this.ctx.mode === "review") {
      if (headDoc) layers.push({ id: "revision", title: `Current revision r${headNumber ?? "?"}`, kind: "document", visible: false, doc: headDoc, colour: "#e9ecef" });
      if (reviewPrediction) layers.push({ id: "prediction", title: "Model prediction (as predicted)", kind: "document", visible: false, doc: parseDocument(reviewPrediction, size), colour: "#ffa94d" });
    } else if (prediction?.document) {
      layers.push({ id: "prediction", title: "Model prediction", kind: "document", visible: false, doc: parseDocument(prediction.document, size), colour: "#ffa94d" });
    }
    const members = this.ctx.mode === "review"
      ? (this.reviewItem as unknown as { member_outputs?: PredictionInfo["member_outputs"] })?.member_outputs
      : prediction?.member_outputs;
    (members?.keypoint ?? []).forEach((row, i) => {
      if (!Array.isArray(row.joints_xy)) return;
      layers.push({
        id: `member-${i}`, title: `Key points: ${row.model}${row.fold === undefined || row.fold === null ? "" : ` (fold ${row.fold})`}`,
        kind: "joints", visible: false, joints: row.joints_xy as unknown as Point[][], colour: MEMBER_COLOURS[i % MEMBER_COLOURS.length],
      });
    });
    return layers;
  }

  /** A local draft that differs from what the server has wins (with a banner to discard it). */
  private async restoreDraft(size: { width: number; height: number; imagePath: string }): Promise<void> {
    const key = this.draftKey();
    if (!key) return;
    const draft = this.save.drafts.load(key);
    if (!draft) return;
    let doc: Doc;
    try {
      doc = parseDocument(draft.document, size);
    } catch {
      this.save.drafts.clear(key);
      return;
    }
    const store = this.store;
    if (documentsEqual(doc, store.doc) || sameContent(doc, store.doc)) {
      this.save.drafts.clear(key);
      return;
    }
    const server = store.doc;
    if (this.ctx.mode === "edit" && draft.base_revision !== store.baseRevision) {
      // The draft was based on an older revision: saving it will meet a 409 and offer the merge.
      const base = draft.base_revision !== null ? await api.revision(draft.base_revision).catch(() => null) : null;
      store.baseRevision = draft.base_revision;
      store.baseRevisionNumber = base?.number ?? null;
      store.baseDoc = base ? parseDocument(base.document, size) : null;
    }
    store.commit(doc);
    store.samAssisted = Boolean(draft.sam_assisted);
    const banner = h("div", { class: "draft-banner", id: "draft-banner" },
      `Restored your unsaved drawing from ${new Date(draft.saved_at).toLocaleString()}. `,
      h("button", { type: "button", id: "draft-discard", onclick: () => {
        this.save.clearDraft();
        store.commit(server);
        banner.remove();
        toast("Draft discarded (Ctrl+Z brings it back).");
      } }, "Discard draft"));
    byId("editor").prepend(banner);
  }

  private async mountStage(): Promise<void> {
    const img = byId<HTMLImageElement>("radiograph");
    if (!img.getAttribute("src")) img.src = this.image.display_url || `/api/images/${this.image.id}/display/`;
    if (!img.complete || img.naturalWidth === 0) {
      await new Promise<void>((resolve, reject) => {
        img.addEventListener("load", () => resolve(), { once: true });
        img.addEventListener("error", () => reject(new Error("the display image did not load")), { once: true });
      });
    }
    if (typeof img.decode === "function") await img.decode().catch(() => undefined);
    const canvas = byId<HTMLCanvasElement>("image-canvas");
    this.imageLayer = new ImageLayer(canvas, this.image.width, this.image.height, () => this.store.view);
    this.imageLayer.setImage(img);
    this.overlay = new Overlay(this.store);
    this.stage.append(this.overlay.root);
    this.interaction = new Interaction(this.stage, this.store, {
      closePolygon: () => this.closePolygon(),
      samChanged: () => this.sam.changed(),
      afterJointPlaced: () => this.advanceJoint(),
      insertVertexAtSelectedEdge: (at) => this.insertVertexAt(at),
      calibrationClick: (at) => {
        this.calibration.click(at);
        if (this.store.calibration.points.length === 2) this.calibrationPanel?.focusLength();
      },
    });
    this.store.on("view", () => {
      this.imageLayer.requestDraw();
      const zoom = document.getElementById("zoom-level");
      if (zoom) zoom.textContent = `${Math.round(this.store.view.scale * 100)}%`;
    });
    this.store.on("windowing", () => this.imageLayer.setWindowing(this.store.windowing));
    const resize = () => {
      const rect = this.stage.getBoundingClientRect();
      this.imageLayer.resize(rect.width, rect.height);
      this.overlay.resize(rect.width, rect.height);
      if (this.store.autoFit && rect.width > 0 && rect.height > 0) this.fit();
    };
    new ResizeObserver(resize).observe(this.stage);
    resize();
    this.overlay.renderAll();
    this.imageLayer.draw();
  }

  // ---------------------------------------------------------------------------------------------
  // Commands (toolbar buttons and shortcuts)

  fit(): void {
    this.store.autoFit = true;
    const { width, height } = this.imageLayer.cssSize;
    this.store.setView(fitView(this.image.width, this.image.height, width, height));
  }

  zoomBy(factor: number): void {
    this.store.autoFit = false;
    const { width, height } = this.imageLayer.cssSize;
    this.store.setView(zoomAt(this.store.view, [width / 2, height / 2], factor));
  }

  setTool(tool: Tool): void {
    if (tool !== "sam" && this.store.tool === "sam") this.sam.clear();
    if (tool !== "calibrate" && this.store.tool === "calibrate") this.calibration.cancel();
    this.store.setTool(tool);
  }

  closePolygon(): void {
    const store = this.store;
    if (store.drawing.length < 3) {
      toast("A polygon needs at least 3 vertices.", "error");
      return;
    }
    const { doc, uid } = addPolygon(store.doc, store.label.bone, store.label.leg, store.drawing);
    store.drawing = [];
    store.commit(doc);
    store.select(uid);
    store.emit("draw");
    toast(`Added ${store.label.bone} of the ${groupTitle(store.doc, store.label.leg, store.alignment).text.toLowerCase()}.`, "ok");
  }

  private advanceJoint(): void {
    const index = JOINTS.indexOf(this.store.label.joint);
    if (index < JOINTS.length - 1) this.store.setLabel({ joint: JOINTS[index + 1] as Joint });
  }

  private insertVertexAt(at: Point): boolean {
    const store = this.store;
    const hit = hitTest(store.doc, at, 8 / store.view.scale, store.selection.uid);
    if (hit?.kind !== "edge" || !hit.at) return false;
    store.commit(insertShapeVertex(store.doc, hit.uid, hit.index, hit.at));
    store.select(hit.uid, hit.index + 1);
    return true;
  }

  /** Del: the selected vertex if there is one (and the polygon keeps 3), else the selected shape. */
  deleteSelection(shapeOnly = false): void {
    const store = this.store;
    const { uid, vertex } = store.selection;
    if (!uid) return;
    const shape = shapeByUid(store.doc, uid);
    if (!shape) return;
    if (!shapeOnly && vertex !== null && shape.shape_type !== "point") {
      const doc = deleteShapeVertex(store.doc, uid, vertex);
      if (doc) {
        store.commit(doc);
        store.select(uid, null);
        return;
      }
      toast("A polygon keeps at least 3 vertices: Shift+Del deletes the whole shape.", "error");
      return;
    }
    store.commit(deleteShape(store.doc, uid));
    store.select(null);
  }

  escape(): void {
    const store = this.store;
    if (document.getElementById("help-overlay")) {
      toggleHelp([]);
      return;
    }
    if (store.tool === "polygon" && store.drawing.length) {
      store.drawing = [];
      store.emit("draw");
    } else if (store.tool === "sam" && this.sam.hasPrompt) {
      this.sam.clear();
    } else if (store.tool === "calibrate" && this.calibration.hasSegment) {
      this.calibration.cancel();
    } else {
      this.interaction.cancel();
      store.select(null);
    }
  }

  enter(): void {
    if (this.store.tool === "polygon") this.closePolygon();
    else if (this.store.tool === "sam") this.acceptSam();
    else if (this.store.tool === "calibrate") this.calibrationPanel?.submit();
  }

  /** The scale was loaded or set: the angles panel's note depends on it; a new one re-measures. */
  private scaleChanged(calibrated: boolean): void {
    renderAnglesPanel(byId("angles-panel"), this.store, this.angles.busy, this.itemFlags());
    if (calibrated) void this.angles.compute(true);
  }

  acceptSam(): void {
    if (this.sam.accept()) toast(`SAM outline accepted as ${this.store.label.bone} of the ${groupTitle(this.store.doc, this.store.label.leg, this.store.alignment).text.toLowerCase()}.`, "ok");
    else toast(this.store.sam.busy ? "SAM is still working…" : "No SAM outline to accept yet.", "error");
  }

  async saveNow(): Promise<void> {
    if (this.ctx.mode === "review") {
      toast("In review mode, use Accept, Correct or Reject.", "info");
      return;
    }
    this.interaction.cancel();
    if (this.ctx.mode === "read") await this.submitReading();
    else await this.save.save();
  }

  /** Read mode: the drawing becomes this reader's reading of the image (final), then the next image opens. */
  private async submitReading(): Promise<void> {
    const study = this.ctx.study;
    if (!study) return;
    const button = document.getElementById("save-button") as HTMLButtonElement | null;
    if (button) button.disabled = true;
    try {
      const reading = await api.readingCreate(study.id, { image: this.image.id, document: buildDocument(this.store.doc) });
      this.save.clearDraft();
      toast(reading.aligned ? "Reading submitted." : `Reading submitted; it could not be measured: ${reading.alignment_error}`,
        reading.aligned ? "ok" : "info");
      window.location.assign(urls.readPage(study.id));
    } catch (error) {
      if (error instanceof ApiError && error.extra.code === "already_read") {
        this.save.clearDraft();
        window.location.assign(urls.readPage(study.id));
        return;
      }
      toast(`Reading not submitted: ${(error as Error).message}`, "error");
      if (button) button.disabled = false;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Chrome: toolbar, save bar, side panels

  private buildChrome(): void {
    const store = this.store;
    this.buildToolbar();
    this.buildSaveBar();

    const label = h("div", { id: "label-chooser" });
    const samBody = h("div", { id: "sam-panel" });
    const anglesBody = h("div", { id: "angles-panel" });
    this.calibrationPanel = new CalibrationPanel(store, this.calibration);
    const layersBody = h("div", { id: "layers-panel" });
    const shapesBody = h("div", { id: "shapes-panel" });
    const samSection = section("sam", "SAM assist", samBody);
    const sections: HTMLElement[] = [];
    if (this.review) sections.push(section("review", "Review", this.review.panel));
    sections.push(section("label", "Label", label), samSection, section("calibration", "Scale", this.calibrationPanel.root),
      section("angles", "Angles", anglesBody),
      section("layers", "Layers", layersBody), section("shapes", "Shapes", shapesBody, false));
    if (this.ctx.mode === "edit") sections.push(section("history", "Revisions", h("ol", { id: "history-panel", class: "history" }), false));
    this.side.append(...sections);

    this.samPanel = new SamPanel(samBody, store, this.sam, () => this.acceptSam());
    const showSam = () => {
      samSection.hidden = store.tool !== "sam";
    };
    showSam();
    renderLabelChooser(label, store);
    renderAnglesPanel(anglesBody, store, false, this.itemFlags());
    const workingTitle = this.ctx.mode === "review" ? "Working copy (prediction)" : "Working copy";
    const layersNote = this.ctx.mode === "read" ? "Reading blind: no revision, prediction or other reading is shown." : undefined;
    renderLayersPanel(layersBody, store, workingTitle, layersNote);
    renderShapesPanel(shapesBody, store, (uid) => store.commit(deleteShape(store.doc, uid)));

    store.on("label", () => {
      renderLabelChooser(label, store);
      this.samPanel?.update();
    });
    store.on("tool", () => {
      showSam();
      this.updateToolbar();
      this.calibrationPanel?.update();
    });
    store.on("calibration", () => this.calibrationPanel?.update());
    store.on("sam", () => this.samPanel?.update());
    store.on("alignment", () => {
      renderAnglesPanel(anglesBody, store, this.angles.busy, this.itemFlags());
      renderLabelChooser(label, store); // the legs' patient sides follow the measured alignment
    });
    store.on("layers", () => renderLayersPanel(layersBody, store, workingTitle, layersNote));
    store.on("doc", () => renderShapesPanel(shapesBody, store, (uid) => store.commit(deleteShape(store.doc, uid))));
    store.on("selection", () => renderShapesPanel(shapesBody, store, (uid) => store.commit(deleteShape(store.doc, uid))));
    this.review?.render();
    void this.refreshHistory();
    const refresh = debounce(() => void this.refreshHistory(), 300);
    store.on("saved", () => {
      if (!this.save.saving) refresh();
    });
  }

  private toolButtons = new Map<Tool, HTMLButtonElement>();
  private undoButton: HTMLButtonElement | null = null;
  private redoButton: HTMLButtonElement | null = null;

  private buildToolbar(): void {
    const bar = byId("toolbar");
    clear(bar);
    const group = h("div", { class: "tool-group", role: "group", "aria-label": "Tools" });
    for (const t of TOOLS) {
      const button = h("button", { type: "button", id: `tool-${t.tool}`, "data-tool": t.tool, title: t.title, onclick: () => this.setTool(t.tool) },
        t.text, h("kbd", {}, t.key.toUpperCase()));
      this.toolButtons.set(t.tool, button);
      group.append(button);
    }
    this.undoButton = h("button", { type: "button", id: "undo", title: "Undo (Ctrl+Z)", onclick: () => this.store.undo() }, "Undo");
    this.redoButton = h("button", { type: "button", id: "redo", title: "Redo (Ctrl+Shift+Z)", onclick: () => this.store.redo() }, "Redo");
    const del = h("button", { type: "button", id: "delete-shape", title: "Delete the selected shape (Shift+Del)", onclick: () => this.deleteSelection(true) }, "Delete");
    const view = h("div", { class: "tool-group", role: "group", "aria-label": "View" },
      h("button", { type: "button", id: "zoom-fit", title: "Fit the image (0)", onclick: () => this.fit() }, "Fit"),
      h("button", { type: "button", id: "zoom-in", title: "Zoom in (+)", onclick: () => this.zoomBy(1.25) }, "+"),
      h("button", { type: "button", id: "zoom-out", title: "Zoom out (−)", onclick: () => this.zoomBy(0.8) }, "−"));
    const win = h("input", { type: "range", id: "wl-window", min: WINDOW_RANGE[0], max: WINDOW_RANGE[1], value: this.store.windowing.window, title: "Window (contrast)" });
    const lev = h("input", { type: "range", id: "wl-level", min: LEVEL_RANGE[0], max: LEVEL_RANGE[1], value: this.store.windowing.level, title: "Level (brightness)" });
    const inv = h("input", { type: "checkbox", id: "wl-invert", checked: this.store.windowing.invert });
    const update = () => this.store.setWindowing({ window: Number(win.value), level: Number(lev.value), invert: inv.checked });
    win.addEventListener("input", update);
    lev.addEventListener("input", update);
    inv.addEventListener("change", update);
    this.store.on("windowing", () => {
      win.value = String(this.store.windowing.window);
      lev.value = String(this.store.windowing.level);
      inv.checked = this.store.windowing.invert;
    });
    const windowing = h("div", { class: "tool-group windowing", role: "group", "aria-label": "Window and level" },
      h("label", {}, "W ", win), h("label", {}, "L ", lev), h("label", {}, inv, " Invert"),
      h("button", { type: "button", id: "wl-reset", title: "Reset window/level (R)", onclick: () => this.store.setWindowing({ ...DEFAULT_WINDOWING }) }, "Reset"));
    bar.append(group, h("div", { class: "tool-group" }, this.undoButton, this.redoButton, del), view, windowing);
    this.store.on("doc", () => this.updateToolbar());
    this.updateToolbar();
  }

  private updateToolbar(): void {
    for (const [tool, button] of this.toolButtons) {
      button.classList.toggle("active", tool === this.store.tool);
      button.setAttribute("aria-pressed", String(tool === this.store.tool));
    }
    if (this.undoButton) this.undoButton.disabled = !this.store.history.canUndo;
    if (this.redoButton) this.redoButton.disabled = !this.store.history.canRedo;
    this.stage.dataset.tool = this.store.tool;
  }

  private buildSaveBar(): void {
    const bar = byId("save-bar");
    clear(bar);
    if (this.ctx.mode === "review" && this.reviewItem) {
      const predictionDoc = parseDocument(this.reviewItem.document ?? null, { width: this.image.width, height: this.image.height });
      this.review = new ReviewController(this.reviewItem, this.store, this.save, this.ctx.user.can_review, predictionDoc);
      bar.append(this.review.bar);
      return;
    }
    if (this.ctx.mode === "read" && this.ctx.study) {
      const { name, remaining } = this.ctx.study;
      bar.append(
        h("span", { id: "save-state", class: "muted" }, `Reader study “${name}”: ${remaining} image${remaining === 1 ? "" : "s"} left, blind to other readers and the model`),
        h("button", { type: "button", id: "save-button", class: "primary", title: "Submit this reading (Ctrl+S); readings are final", onclick: () => void this.saveNow() }, "Submit reading"));
      return;
    }
    const state = h("span", { id: "save-state", class: "muted" });
    const button = h("button", { type: "button", id: "save-button", class: "primary", title: "Save as a new revision (Ctrl+S)", onclick: () => void this.saveNow() }, "Save revision");
    const render = () => {
      const base = this.store.baseRevision === null ? "no revision yet" : `based on r${this.store.baseRevisionNumber ?? "?"}`;
      state.textContent = `${this.save.saving ? "Saving…" : this.save.dirty ? "Unsaved changes" : "Saved"} · ${base}`;
      state.dataset.dirty = String(this.save.dirty);
      button.disabled = this.save.saving;
    };
    this.store.on("doc", render);
    this.store.on("saved", render);
    render();
    bar.append(state, button);
  }

  private async refreshHistory(): Promise<void> {
    const list = document.getElementById("history-panel");
    if (!list || this.ctx.mode !== "edit") return;
    try {
      const revisions = await api.revisions(this.image.id);
      clear(list);
      if (!revisions.length) list.append(h("li", { class: "muted" }, "No revision yet."));
      for (const r of revisions) {
        list.append(h("li", { "data-revision": r.id }, h("strong", {}, `r${r.number}`), ` ${r.source} · ${r.author ?? "—"} · `,
          h("span", { class: "muted" }, new Date(r.created_at).toLocaleString())));
      }
    } catch (error) {
      clear(list);
      list.append(h("li", { class: "error" }, (error as Error).message));
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Keyboard

  private shortcuts: Shortcut[] = [];

  private installShortcuts(): void {
    const store = this.store;
    const tool = (t: Tool, key: string, description: string): Shortcut => ({ keys: [key], label: key.toUpperCase(), description, group: "Tools", run: () => this.setTool(t) });
    this.shortcuts = [
      tool("select", "v", "Select / move"),
      tool("polygon", "p", "Polygon (click vertices; Enter or double-click closes)"),
      tool("insert", "i", "Insert a vertex on an edge"),
      tool("point", "j", "Joint point (hip / knee / ankle)"),
      tool("sam", "s", "SAM assist"),
      tool("calibrate", "c", "Calibrate the scale (click both ends of a ruler or object of known size)"),
      { keys: ["f"], label: "F", description: "Label: femur", group: "Labels", run: () => store.setLabel({ bone: "femur" }) },
      { keys: ["t"], label: "T", description: "Label: tibia", group: "Labels", run: () => store.setLabel({ bone: "tibia" }) },
      { keys: ["h"], label: "H", description: "Joint: hip", group: "Labels", run: () => store.setLabel({ joint: "hip" }) },
      { keys: ["k"], label: "K", description: "Joint: knee", group: "Labels", run: () => store.setLabel({ joint: "knee" }) },
      { keys: ["a"], label: "A", description: "Joint: ankle", group: "Labels", run: () => store.setLabel({ joint: "ankle" }) },
      { keys: ["1"], label: "1", description: "Patient's right leg (image left on a standard AP film; group_id 0)", group: "Labels", run: () => store.setLabel({ leg: 0 }) },
      { keys: ["2"], label: "2", description: "Patient's left leg (image right; group_id 1)", group: "Labels", run: () => store.setLabel({ leg: 1 }) },
      { keys: ["z"], label: "Ctrl+Z", description: "Undo", group: "Edit", ctrl: true, shift: false, run: () => store.undo() },
      { keys: ["z"], label: "Ctrl+Shift+Z", description: "Redo", group: "Edit", ctrl: true, shift: true, run: () => store.redo() },
      { keys: ["y"], label: "Ctrl+Y", description: "Redo", group: "Edit", ctrl: true, run: () => store.redo() },
      { keys: ["s"], label: "Ctrl+S", description: this.ctx.mode === "read" ? "Submit the reading" : "Save as a new revision", group: "Edit", ctrl: true, run: () => void this.saveNow() },
      { keys: ["Delete", "Backspace"], label: "Del", description: "Delete the selected vertex (else the shape); Backspace while drawing: last vertex / prompt", group: "Edit", shift: false, run: () => this.backspaceOrDelete() },
      { keys: ["Delete", "Backspace"], label: "Shift+Del", description: "Delete the selected shape", group: "Edit", shift: true, run: () => this.deleteSelection(true) },
      { keys: ["Enter"], label: "Enter", description: "Close the polygon / accept the SAM outline / set the scale", group: "Edit", run: () => this.enter() },
      { keys: ["Escape"], label: "Esc", description: "Cancel drawing or the calibration segment / clear SAM prompts / deselect", group: "Edit", run: () => this.escape() },
      { keys: ["0"], label: "0", description: "Fit the image", group: "View", run: () => this.fit() },
      { keys: ["+", "="], label: "+", description: "Zoom in", group: "View", run: () => this.zoomBy(1.25) },
      { keys: ["-", "_"], label: "−", description: "Zoom out", group: "View", run: () => this.zoomBy(0.8) },
      { keys: ["x"], label: "X", description: "Invert", group: "View", run: () => store.setWindowing({ ...store.windowing, invert: !store.windowing.invert }) },
      { keys: ["r"], label: "R", description: "Reset window/level", group: "View", run: () => store.setWindowing({ ...DEFAULT_WINDOWING }) },
      { keys: ["g"], label: "G", description: "Show/hide the angles overlay", group: "View", run: () => {
        store.anglesVisible = !store.anglesVisible;
        store.emit("layers");
      } },
      { keys: ["?"], label: "?", description: "This help", group: "View", run: () => toggleHelp(this.shortcuts) },
    ];
    installShortcuts(this.shortcuts, (down) => {
      this.interaction.spaceDown = down;
      this.stage.classList.toggle("space-pan", down);
    });
    byId("help-button").addEventListener("click", () => toggleHelp(this.shortcuts));
  }

  private backspaceOrDelete(): void {
    const store = this.store;
    if (store.tool === "polygon" && store.drawing.length) {
      store.drawing = store.drawing.slice(0, -1);
      store.emit("draw");
    } else if (store.tool === "sam" && this.sam.hasPrompt) {
      this.sam.removeLastPrompt();
    } else if (store.tool === "calibrate" && this.calibration.hasSegment) {
      this.calibration.removeLastPoint();
    } else {
      this.deleteSelection(false);
    }
  }

  /** For the browser tests and the console: map image pixels to page coordinates. */
  private exposeTestHook(): void {
    const hook = {
      store: this.store,
      imageToClient: (x: number, y: number): Point => {
        const rect = this.stage.getBoundingClientRect();
        const [sx, sy] = imageToScreen(this.store.view, [x, y]);
        return [rect.left + sx, rect.top + sy];
      },
      fit: () => this.fit(),
    };
    (window as unknown as { enllasdEditor: typeof hook }).enllasdEditor = hook;
  }
}
