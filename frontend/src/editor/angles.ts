/**
 * Live angles: after each edit (debounced 250 ms) the working document goes to `POST /api/align/`;
 * the answer is drawn on the image (overlay.ts) and tabulated per leg here, each value with its
 * spread and normal range; values outside the range are highlighted.
 */

import { api } from "../api/endpoints";
import { ApiError } from "../api/http";
import type { AlignmentJson } from "../api/types";
import { legRows, type AngleRow } from "../core/angleTable";
import { formatSpacing } from "../core/calibration";
import { debounce, LatestOnly } from "../core/debounce";
import { buildDocument, canonicalLabel, type Doc } from "../core/labelme";
import { sameContent } from "../core/merge";
import { legSideTitle, lldText, outsideIntendedUse } from "../core/clinicalText";
import { normalRangeSource } from "../core/normals";
import { clear, h } from "../ui/dom";
import type { EditorStore } from "./store";

export const ALIGN_DEBOUNCE_MS = 250;
/** While the drawing changes: a fast estimate (values within about 0.1°, spread wider). */
export const FAST_MC_SAMPLES = 200;
/** Once it has rested this long: the full computation the report uses (the server's default samples). */
export const SETTLE_MS = 900;

export class AnglesController {
  private readonly latest = new LatestOnly();
  private abort: AbortController | null = null;
  readonly schedule = debounce(() => void this.compute(), ALIGN_DEBOUNCE_MS);
  readonly settle = debounce(() => void this.compute(true), SETTLE_MS);
  busy = false;
  /** A document whose alignment is already known (review mode: the prediction and its stored
   * alignment, with the ensemble's spread); shown without a request while the document equals it. */
  reference: { doc: Doc; alignment: AlignmentJson } | null = null;
  /** Whether `store.baseDoc` is the saved revision `store.baseRevision` (edit mode; in review mode it is the prediction). */
  baseIsRevision = true;
  /** What the model measured, shown while the working copy has no joint point (edit mode, an image without
   * a revision: a fresh upload opens on its prediction's legs, angles and lengths rather than on nothing). */
  modelAlignment: AlignmentJson | null = null;

  /** ``imageId`` names the image whose scale (DICOM or a calibration) turns lengths into mm. */
  constructor(private readonly store: EditorStore, private readonly imageId: () => number | null = () => null) {
    store.on("doc", () => {
      this.schedule();
      this.settle();
    });
  }

  /**
   * Align the working document. `full`: with the server's default Monte-Carlo samples, exactly as the
   * report computes the saved revision (issue 16, item 6); otherwise the fast estimate shown while
   * drawing, marked provisional until the full answer replaces it.
   */
  async compute(full = false): Promise<void> {
    const store = this.store;
    store.alignmentFromModel = false;
    if (this.reference && sameContent(store.doc, this.reference.doc)) {
      this.latest.invalidate();
      this.abort?.abort();
      this.busy = false;
      store.alignment = this.reference.alignment;
      store.alignmentProvisional = false;
      store.alignmentError = null;
      store.emit("alignment");
      return;
    }
    const hasJoint = store.doc.shapes.some((s) => s.shape_type === "point" && canonicalLabel(s.label) !== null);
    if (!hasJoint) {
      this.latest.invalidate();
      store.alignment = this.modelAlignment;
      store.alignmentFromModel = this.modelAlignment !== null;
      store.alignmentProvisional = false;
      store.alignmentError = this.modelAlignment ? null : "Place hip, knee and ankle points (and outline femur and tibia) to measure the angles.";
      store.emit("alignment");
      return;
    }
    this.abort?.abort();
    const abort = new AbortController();
    this.abort = abort;
    this.busy = true;
    store.emit("alignment");
    try {
      const image = this.imageId();
      // Unchanged from a saved revision: the server aligns the stored document (this one is rounded to
      // 0.01 px), so the numbers are exactly the report's.
      const saved = this.baseIsRevision && store.baseRevision !== null && store.baseDoc !== null && sameContent(store.doc, store.baseDoc);
      const body = {
        document: buildDocument(store.doc), width: store.imageWidth, height: store.imageHeight,
        ...(image === null ? {} : { image }), ...(full ? {} : { mc_samples: FAST_MC_SAMPLES }),
        ...(saved ? { revision: store.baseRevision } : {}),
      };
      const result = await this.latest.run(() => api.align(body, abort.signal));
      if (result === undefined) return;
      store.alignment = result;
      store.alignmentProvisional = !full;
      store.alignmentError = result.legs?.length ? null : "No leg could be measured.";
    } catch (error) {
      if ((error as Error).name === "AbortError") return;
      store.alignment = null;
      store.alignmentError = error instanceof ApiError && error.status === 404
        ? "The live angle service (POST /api/align/) is not available on this server."
        : (error as Error).message;
    }
    this.busy = false;
    store.emit("alignment");
  }
}

function metricCell(row: AngleRow, leg: number): HTMLTableRowElement {
  return h("tr", { class: `metric-row status-${row.status}${row.uncertain ? " uncertain" : ""}`, "data-metric": row.metric, "data-leg": leg },
    h("th", { scope: "row", title: row.note }, row.title),
    h("td", { class: "value", "data-metric": row.metric, "data-leg": leg, title: row.interval }, row.value),
    h("td", { class: "sd" }, row.spread),
    h("td", { class: "range muted" }, row.range),
    h("td", { class: "flag" }, row.judgement),
  );
}

/** The per-leg angle tables (side panel). */
export function renderAnglesPanel(container: HTMLElement, store: EditorStore, busy: boolean, itemFlags: readonly string[] = []): void {
  clear(container);
  const alignment: AlignmentJson | null = store.alignment;
  // "Outside intended use" (no full-length leg): said plainly where the angles would be. The flag is the
  // pipeline's, kept on the review item, or on the alignment itself.
  const outside = outsideIntendedUse([...itemFlags, ...(alignment?.flags ?? []), ...(alignment?.legs ?? []).flatMap((leg) => leg.flags ?? [])]);
  const note = busy ? "Updating…" : alignment ? "" : outside ? "" : store.alignmentError ?? "";
  container.append(h("div", { class: "panel-note", id: "angles-state" }, note));
  if (alignment && store.alignmentProvisional && !busy) {
    container.append(h("p", { class: "muted small", id: "angles-provisional" }, "Quick estimate while you draw; the full computation (as in the report) follows."));
  }
  if (alignment && store.alignmentFromModel) {
    container.append(h("p", { class: "notice", id: "angles-from-model" }, alignment.legs?.length
      ? "The model's prediction, not reviewed yet (its outlines: layer “Model prediction”). Place joints or outline bones to measure your own reading."
      : "The model found no full-length leg to measure on this image."));
  }
  if (outside && !alignment?.legs?.length) {
    container.append(h("p", { class: "notice outside-use", id: "angles-outside-use" },
      "Outside intended use: not a full-length leg radiograph, so no angles are given (", outside, ")."));
  }
  if (!alignment) return;
  const scale = store.calibration.provenance;
  if (alignment.pixel_spacing_mm === null) {
    container.append(h("p", { class: "muted small", id: "angles-length-note" }, "No pixel spacing: lengths are in pixels (angles are unaffected)."));
  } else if (scale?.status === "detector_plane") {
    container.append(h("p", { class: "muted small", id: "angles-length-note" },
      `Lengths in mm at the detector plane (${formatSpacing(alignment.pixel_spacing_mm)} mm/px): magnification unknown.`));
  } else {
    container.append(h("p", { class: "muted small", id: "angles-length-note" }, `Lengths in mm (${formatSpacing(alignment.pixel_spacing_mm)} mm/px).`));
  }
  alignment.legs.forEach((leg, i) => {
    const table = h("table", { class: "angles-table", "data-leg": i, "data-side": leg.anatomical_side ?? "" },
      h("caption", {}, legSideTitle(leg.anatomical_side, leg.image_side)),
      h("thead", {}, h("tr", {}, h("th", {}, "Metric"), h("th", {}, "Value"), h("th", {}, "Spread"), h("th", {}, "Normal"), h("th", {}, ""))),
    );
    table.append(h("tbody", {}, ...legRows(leg).map((row) => metricCell(row, i))));
    container.append(table);
    if (leg.flags?.length) {
      container.append(h("ul", { class: "flags", "data-leg": i }, ...leg.flags.map((f) => h("li", {}, f))));
    }
  });
  const lld = alignment.lld;
  if (lld && typeof lld.value === "number" && Number.isFinite(lld.value)) {
    container.append(h("p", { id: "angles-lld", class: "lld" }, "Leg-length difference: ", h("strong", {}, lldText(lld.value, lld.unit))));
  }
  container.append(h("p", { class: "muted small source" }, normalRangeSource(), " Children and dysplastic limbs differ: out of range means “look again”."));
}
