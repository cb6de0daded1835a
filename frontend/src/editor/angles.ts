/**
 * Live angles: after each edit (debounced 250 ms) the working document goes to `POST /api/align/`;
 * the answer is drawn on the image (overlay.ts) and tabulated per leg here, each value with its
 * spread and normal range; values outside the range are highlighted.
 */

import { api } from "../api/endpoints";
import { ApiError } from "../api/http";
import type { AlignmentJson, LegAlignmentJson, MetricJson } from "../api/types";
import { formatSpacing } from "../core/calibration";
import { debounce, LatestOnly } from "../core/debounce";
import { buildDocument, canonicalLabel, type Doc } from "../core/labelme";
import { sameContent } from "../core/merge";
import { classify, formatRange, METRIC_ORDER, METRIC_TITLES, NORMAL_RANGE_SOURCE, NORMAL_RANGES } from "../core/normals";
import { clear, fmt, h } from "../ui/dom";
import type { EditorStore } from "./store";

export const ALIGN_DEBOUNCE_MS = 250;

export class AnglesController {
  private readonly latest = new LatestOnly();
  private abort: AbortController | null = null;
  readonly schedule = debounce(() => void this.compute(), ALIGN_DEBOUNCE_MS);
  busy = false;
  /** A document whose alignment is already known (review mode: the prediction and its stored
   * alignment, with the ensemble's spread); shown without a request while the document equals it. */
  reference: { doc: Doc; alignment: AlignmentJson } | null = null;

  /** ``imageId`` names the image whose scale (DICOM or a calibration) turns lengths into mm. */
  constructor(private readonly store: EditorStore, private readonly imageId: () => number | null = () => null) {
    store.on("doc", () => this.schedule());
  }

  async compute(): Promise<void> {
    const store = this.store;
    if (this.reference && sameContent(store.doc, this.reference.doc)) {
      this.latest.invalidate();
      this.abort?.abort();
      this.busy = false;
      store.alignment = this.reference.alignment;
      store.alignmentError = null;
      store.emit("alignment");
      return;
    }
    const hasJoint = store.doc.shapes.some((s) => s.shape_type === "point" && canonicalLabel(s.label) !== null);
    if (!hasJoint) {
      this.latest.invalidate();
      store.alignment = null;
      store.alignmentError = "Place hip, knee and ankle points (and outline femur and tibia) to measure the angles.";
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
      const body = { document: buildDocument(store.doc), width: store.imageWidth, height: store.imageHeight, ...(image === null ? {} : { image }) };
      const result = await this.latest.run(() => api.align(body, abort.signal));
      if (result === undefined) return;
      store.alignment = result;
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

function metricCell(name: string, metric: MetricJson | null | undefined, leg: number): HTMLTableRowElement {
  const range = NORMAL_RANGES[name] ?? null;
  const value = metric?.value ?? null;
  const { status, uncertain } = classify(name, value, { unit: metric?.unit, p2_5: metric?.p2_5, p97_5: metric?.p97_5 });
  const isLength = name === "MAD";
  const unit = isLength ? ` ${metric?.unit === "mm" ? "mm" : "px"}` : "°";
  const sd = metric?.sd;
  const valueText = value === null ? "—" : `${name === "hka_deviation_deg" && value > 0 ? "+" : ""}${fmt(value)}${unit}`;
  const interval = typeof metric?.p2_5 === "number" && typeof metric?.p97_5 === "number"
    ? `95% interval ${fmt(metric.p2_5)} to ${fmt(metric.p97_5)}${unit}` : "";
  const row = h("tr", { class: `metric-row status-${status}${uncertain ? " uncertain" : ""}`, "data-metric": name, "data-leg": leg },
    h("th", { scope: "row", title: range?.note ?? "" }, METRIC_TITLES[name] ?? name),
    h("td", { class: "value", "data-metric": name, "data-leg": leg, title: interval }, valueText),
    h("td", { class: "sd" }, typeof sd === "number" && sd > 0 ? `± ${fmt(sd, sd < 0.1 ? 2 : 1)}` : ""),
    h("td", { class: "range muted" }, formatRange(range)),
    h("td", { class: "flag" }, flagText(name, status, uncertain)),
  );
  return row;
}

function flagText(name: string, status: string, uncertain: boolean): string {
  if (status === "low" || status === "high") {
    if (name === "hka_deviation_deg") return status === "low" ? "varus" : "valgus";
    return status;
  }
  return uncertain ? "borderline" : "";
}

function legTitle(leg: LegAlignmentJson, index: number): string {
  const side = leg.anatomical_side ? `${leg.anatomical_side} leg` : `leg ${index}`;
  return `${side[0].toUpperCase()}${side.slice(1)} (image ${leg.image_side})`;
}

/** The per-leg angle tables (side panel). */
export function renderAnglesPanel(container: HTMLElement, store: EditorStore, busy: boolean): void {
  clear(container);
  const alignment: AlignmentJson | null = store.alignment;
  container.append(h("div", { class: "panel-note", id: "angles-state" }, busy ? "Updating…" : alignment ? "" : store.alignmentError ?? ""));
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
    const table = h("table", { class: "angles-table", "data-leg": i },
      h("caption", {}, legTitle(leg, i)),
      h("thead", {}, h("tr", {}, h("th", {}, "Metric"), h("th", {}, "Value"), h("th", {}, "Spread"), h("th", {}, "Normal"), h("th", {}, ""))),
    );
    const body = h("tbody");
    for (const name of METRIC_ORDER) {
      if (!(name in (leg.metrics ?? {}))) continue;
      body.append(metricCell(name, leg.metrics[name], i));
    }
    table.append(body);
    container.append(table);
    if (leg.flags?.length) {
      container.append(h("ul", { class: "flags", "data-leg": i }, ...leg.flags.map((f) => h("li", {}, f))));
    }
  });
  container.append(h("p", { class: "muted small source" }, NORMAL_RANGE_SOURCE, " Children and dysplastic limbs differ: out of range means “look again”."));
}
