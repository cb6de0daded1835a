/**
 * The calibrate tool: two clicks on the image give a segment (a ruler, or across a calibration
 * object of known size); a form in the "Scale" panel asks the method and the known length, and
 * `POST /api/images/<id>/calibration/` sets the image's pixel spacing. The panel shows how the scale
 * is known (`GET` of the same URL) from the start. A refused calibration keeps the segment, so the
 * user can fix the length and send it again.
 */

import { api } from "../api/endpoints";
import { ApiError } from "../api/http";
import { CALIBRATION_METHODS, describeServerError, formatPx, formatSpacing, scaleStatus, segmentLength, validateCalibration } from "../core/calibration";
import type { Point } from "../core/geometry";
import { h, toast } from "../ui/dom";
import type { EditorStore } from "./store";

export class CalibrationController {
  loadError: string | null = null;

  constructor(
    private readonly store: EditorStore,
    private readonly imageId: () => number,
    /** The scale changed (loaded, or a new calibration). */
    private readonly onScale: (calibrated: boolean) => void,
  ) {}

  async load(): Promise<void> {
    try {
      this.store.calibration.provenance = await api.calibration(this.imageId());
      this.loadError = null;
    } catch (error) {
      this.loadError = (error as Error).message;
    }
    this.store.emit("calibration");
    this.onScale(false);
  }

  /** A click of the tool: the first or second end; a third click starts a new segment. */
  click(at: Point): void {
    const state = this.store.calibration;
    state.points = state.points.length === 1 ? [state.points[0], at] : [at];
    state.error = null;
    this.store.emit("calibration");
  }

  get hasSegment(): boolean {
    return this.store.calibration.points.length > 0;
  }

  cancel(): void {
    const state = this.store.calibration;
    state.points = [];
    state.error = null;
    this.store.emit("calibration");
  }

  removeLastPoint(): void {
    this.store.calibration.points = this.store.calibration.points.slice(0, -1);
    this.store.emit("calibration");
  }

  /** Validate, then send; true when the server accepted it. */
  async submit(method: string, lengthText: string): Promise<boolean> {
    const state = this.store.calibration;
    if (state.busy) return false;
    const check = validateCalibration(state.points, method, lengthText);
    if (!check.ok) {
      state.error = check.error;
      this.store.emit("calibration");
      return false;
    }
    state.busy = true;
    state.error = null;
    this.store.emit("calibration");
    try {
      const provenance = await api.calibrate(this.imageId(), check.request);
      state.provenance = provenance;
      state.points = [];
      toast(`${scaleStatus(provenance).text}.`, "ok");
      this.onScale(true);
      return true;
    } catch (error) {
      state.error = error instanceof ApiError
        ? describeServerError(error.message, error.extra)
        : (error as Error).message;
      return false;
    } finally {
      state.busy = false;
      this.store.emit("calibration");
    }
  }
}

/** The "Scale" side panel: the status line, and the form while a segment is drawn. Built once. */
export class CalibrationPanel {
  readonly root = h("div", { id: "calibration-panel" });
  private readonly status = h("p", { id: "calibration-status", class: "scale-status" });
  private readonly notice = h("p", { id: "calibration-notice", class: "warning small", hidden: true });
  private readonly hint = h("p", { class: "muted small", id: "calibration-hint" });
  private readonly segment = h("p", { id: "calibration-segment", class: "small" });
  private readonly length = h("input", { type: "text", inputmode: "decimal", id: "calibration-length", autocomplete: "off", size: 7, placeholder: "e.g. 100" });
  private readonly preview = h("span", { id: "calibration-preview", class: "muted" });
  private readonly error = h("p", { id: "calibration-error", class: "error", role: "alert", hidden: true });
  private readonly submitButton = h("button", { type: "submit", id: "calibration-submit", class: "primary" }, "Set scale");
  private readonly form: HTMLFormElement;

  constructor(private readonly store: EditorStore, private readonly controller: CalibrationController) {
    this.form = h("form", { id: "calibration-form", class: "calibration-form", hidden: true, onsubmit: (e: Event) => {
      e.preventDefault();
      void this.controller.submit(this.method, this.length.value);
    }, onkeydown: (e: KeyboardEvent) => {
      if (e.key === "Escape") controller.cancel();
    } },
      this.segment,
      h("div", { class: "chooser-row", role: "radiogroup", "aria-label": "Method" },
        ...CALIBRATION_METHODS.map((m, i) => h("label", { class: "chip" },
          h("input", { type: "radio", name: "calibration-method", value: m.method, id: `calibration-method-${m.method}`, checked: i === 0 }), m.label))),
      h("label", { class: "field" }, "Known length ", this.length, " mm ", this.preview),
      this.error,
      h("div", { class: "button-row" }, this.submitButton,
        h("button", { type: "button", id: "calibration-cancel", onclick: () => controller.cancel() }, "Cancel (Esc)")),
    );
    this.length.addEventListener("input", () => this.updatePreview());
    this.root.append(this.status, this.notice, this.hint, this.form);
    this.update();
  }

  private get method(): string {
    return this.form.querySelector<HTMLInputElement>("input[name=calibration-method]:checked")?.value ?? "";
  }

  /** Enter outside the form: send it when a segment is drawn. */
  submit(): void {
    if (!this.form.hidden) this.form.requestSubmit();
  }

  focusLength(): void {
    this.length.focus({ preventScroll: true });
    this.length.select();
    this.root.closest("details")?.setAttribute("open", "");
  }

  private updatePreview(): void {
    const check = validateCalibration(this.store.calibration.points, this.method, this.length.value);
    this.preview.textContent = check.ok ? `→ ${formatSpacing(check.spacing)} mm/px` : "";
  }

  update(): void {
    const state = this.store.calibration;
    const provenance = state.provenance;
    if (provenance) {
      const status = scaleStatus(provenance);
      this.status.textContent = status.text;
      this.status.dataset.status = status.status;
      this.notice.textContent = status.notice ?? "";
      this.notice.hidden = !status.notice;
    } else {
      this.status.textContent = this.controller.loadError ? `Scale unknown: ${this.controller.loadError}` : "Loading the scale…";
      this.notice.hidden = true;
    }
    const tool = this.store.tool === "calibrate";
    const drawn = state.points.length === 2;
    this.hint.textContent = !tool
      ? "Calibrate (C): click both ends of a ruler, or across an object of known size."
      : state.points.length === 1 ? "Click the other end."
        : drawn ? "" : `Click one end of the ruler or calibration object${provenance?.current ? " to calibrate again" : ""}.`;
    this.hint.hidden = this.hint.textContent === "";
    this.form.hidden = !(tool && drawn);
    this.segment.textContent = drawn ? `Segment: ${formatPx(segmentLength(state.points))}` : "";
    this.error.textContent = state.error ?? "";
    this.error.hidden = !state.error;
    this.submitButton.disabled = state.busy;
    this.submitButton.textContent = state.busy ? "Saving…" : "Set scale";
    this.updatePreview();
  }
}
