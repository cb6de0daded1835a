/**
 * SAM assist: prompts (positive / negative clicks, a box) → `POST /api/images/<id>/sam/` → a draft
 * polygon; Enter accepts it as the chosen bone of the chosen leg. Only the newest answer is shown:
 * a prompt change aborts the request in flight. The server caches the image embedding, so only the
 * first prompt of an image waits for the encoder.
 */

import { api } from "../api/endpoints";
import { ApiError } from "../api/http";
import type { SamModels, SamRequest } from "../api/types";
import { debounce, LatestOnly } from "../core/debounce";
import { replaceBone } from "../core/edits";
import { polygonArea, type Point } from "../core/geometry";
import type { EditorStore } from "./store";

export class SamController {
  models: SamModels | null = null;
  /** Why SAM cannot be used (no backend, model unavailable), shown plainly in the panel. */
  unavailable: string | null = null;
  private readonly latest = new LatestOnly();
  private abort: AbortController | null = null;
  readonly changed = debounce(() => void this.run(), 60);

  constructor(private readonly store: EditorStore, private readonly imageId: () => number | null) {}

  async loadModels(): Promise<void> {
    try {
      this.models = await api.samModels();
      const models = this.models.models ?? [];
      const chosen = models.find((m) => m.name === this.models?.default) ?? models.find((m) => m.available) ?? models[0];
      this.store.sam.model = chosen?.name ?? null;
      this.unavailable = models.length === 0 ? "No SAM model is configured on this server." : null;
      this.updateAvailability();
    } catch (error) {
      this.unavailable = error instanceof ApiError && error.status === 404
        ? "SAM assist is not installed on this server."
        : `SAM models could not be listed: ${(error as Error).message}`;
    }
    this.store.emit("sam");
  }

  /** The chosen model's own message when it is not available. */
  updateAvailability(): void {
    const model = this.models?.models.find((m) => m.name === this.store.sam.model);
    if (model && !model.available) this.unavailable = model.message || `SAM model ${model.name} is not available.`;
    else if (this.models?.models.length) this.unavailable = null;
  }

  setModel(name: string): void {
    this.store.sam.model = name;
    this.updateAvailability();
    this.store.emit("sam");
    this.changed();
  }

  setTolerance(px: number): void {
    this.store.sam.tolerance = px;
    this.store.emit("sam");
    this.changed();
  }

  get hasPrompt(): boolean {
    return this.store.sam.points.length > 0 || this.store.sam.box !== null;
  }

  async run(): Promise<void> {
    const sam = this.store.sam;
    const imageId = this.imageId();
    if (!this.hasPrompt || imageId === null) {
      this.latest.invalidate();
      sam.polygons = [];
      sam.score = null;
      sam.busy = false;
      this.store.emit("sam");
      return;
    }
    this.abort?.abort();
    const abort = new AbortController();
    this.abort = abort;
    sam.busy = true;
    sam.error = null;
    this.store.emit("sam");
    // Absent keys, not nulls or empty lists: the server reads a missing box, point list or model as
    // "none" / "the default", and refuses an empty point list.
    const body: SamRequest = {
      ...(sam.points.length ? {
        points: sam.points.map((p) => [Math.round(p[0] * 10) / 10, Math.round(p[1] * 10) / 10] as Point),
        labels: [...sam.labels],
      } : {}),
      tolerance_px: sam.tolerance,
      label: this.store.label.bone,
      ...(sam.box ? { box: sam.box.map((v) => Math.round(v * 10) / 10) as [number, number, number, number] } : {}),
      ...(sam.model ? { model: sam.model } : {}),
    };
    try {
      const result = await this.latest.run(() => api.sam(imageId, body, abort.signal));
      if (result === undefined) return; // a newer prompt is on its way
      sam.polygons = (result.polygons ?? []).filter((p) => p.length >= 3);
      sam.score = typeof result.score === "number" ? result.score : null;
      const total = totalSeconds(result.timings ?? {});
      sam.info = `${sam.polygons.length} polygon${sam.polygons.length === 1 ? "" : "s"}` +
        (sam.score !== null ? ` · score ${sam.score.toFixed(2)}` : "") +
        (result.embedding_cached === undefined ? "" : result.embedding_cached ? " · embedding cached" : " · embedding computed") +
        (total ? ` · ${formatSeconds(total)}` : "");
      if (!sam.polygons.length) sam.error = "SAM found no outline for these prompts: add or move a point.";
    } catch (error) {
      if ((error as Error).name === "AbortError") return;
      sam.polygons = [];
      sam.error = error instanceof ApiError
        ? error.status === 404 ? "SAM assist is not installed on this server." : error.message
        : String(error);
    }
    sam.busy = false;
    this.store.emit("sam");
  }

  /** Put the largest draft polygon in as the chosen bone of the chosen leg; returns whether it did. */
  accept(): boolean {
    const polygon = [...this.store.sam.polygons].sort((a, b) => polygonArea(b) - polygonArea(a))[0];
    if (!polygon || this.store.sam.busy) return false;
    const { bone, leg } = this.store.label;
    const { doc, uid } = replaceBone(this.store.doc, bone, leg, polygon);
    this.store.commit(doc);
    this.store.select(uid);
    this.store.samAssisted = true;
    this.clear();
    return true;
  }

  removeLastPrompt(): void {
    const sam = this.store.sam;
    if (sam.points.length) {
      sam.points = sam.points.slice(0, -1);
      sam.labels = sam.labels.slice(0, -1);
    } else {
      sam.box = null;
    }
    this.store.emit("sam");
    this.changed();
  }

  clear(): void {
    this.changed.cancel();
    this.abort?.abort();
    this.latest.invalidate();
    Object.assign(this.store.sam, { points: [], labels: [], box: null, polygons: [], score: null, busy: false, error: null, info: null });
    this.store.emit("sam");
  }
}

/** The whole round on the worker: `total_s` when given, else the sum of the parts (seconds). */
export function totalSeconds(timings: Record<string, number>): number {
  if (typeof timings.total_s === "number") return timings.total_s;
  return Object.values(timings).reduce((a, b) => a + (Number(b) || 0), 0);
}

function formatSeconds(seconds: number): string {
  return seconds < 1 ? `${Math.round(seconds * 1000)} ms` : `${seconds.toFixed(1)} s`;
}
