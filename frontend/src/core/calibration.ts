/**
 * Calibrating an image's scale from a drawn segment of known length (a ruler, or across a
 * calibration object), and the scale status shown in the editor. Pure: no DOM, no requests.
 *
 * The server (`POST /api/images/<id>/calibration/`, clinical/services.py) computes
 * `pixel_spacing_mm = length_mm / |p1 - p0|` and refuses segments under 10 px and spacings outside
 * 0.01–5 mm/px; the same checks run here first so the user gets the reason before any request.
 */

import type { CalibrationMethod, CalibrationProvenance, CalibrationRequest } from "../api/types";
import { distance, type Point } from "./geometry";

export const CALIBRATION_METHODS: { method: CalibrationMethod; label: string }[] = [
  { method: "ruler", label: "Ruler" },
  { method: "calibration_object", label: "Calibration object" },
];
/** Shorter segments are refused: a 1 px placement error on them exceeds 10 %. */
export const MIN_SEGMENT_PX = 10;
export const SPACING_LIMITS_MM: [number, number] = [0.01, 5];
export const UNCALIBRATED_TEXT = "Uncalibrated: lengths in px";

const METHOD_NAMES: Record<string, string> = {
  ruler: "ruler",
  calibration_object: "calibration object",
  user: "user calibration",
  dicom_pixel_spacing: "DICOM PixelSpacing, patient plane",
  dicom_imager_pixel_spacing: "DICOM ImagerPixelSpacing: detector plane, magnification unknown",
};

export function segmentLength(points: readonly Point[]): number {
  return points.length >= 2 ? distance(points[0], points[1]) : 0;
}

/** mm per pixel of a segment `lengthMm` long; null when the segment has no length. */
export function spacingFromPoints(points: readonly Point[], lengthMm: number): number | null {
  const px = segmentLength(points);
  return px > 0 && Number.isFinite(lengthMm) ? lengthMm / px : null;
}

/** A spacing with 3 significant digits: 0.143, 0.0143, 1.50. */
export function formatSpacing(mmPerPx: number): string {
  return mmPerPx.toPrecision(3);
}

export function formatPx(px: number): string {
  return `${px.toFixed(1)} px`;
}

/** A length typed by the user ("100", "12,5", " 250 "); NaN when it is not a number. */
export function parseLength(text: string): number {
  const clean = text.trim().replace(",", ".");
  return clean === "" ? Number.NaN : Number(clean);
}

export type CalibrationCheck =
  | { ok: true; request: CalibrationRequest; spacing: number }
  | { ok: false; field: "points" | "length" | "method"; error: string };

/** The request to send for two clicked points, a method and a typed length, or why there is none. */
export function validateCalibration(points: readonly Point[], method: string, lengthText: string): CalibrationCheck {
  if (points.length !== 2 || !points.every((p) => p.length === 2 && p.every(Number.isFinite))) {
    return { ok: false, field: "points", error: "Click both ends of the ruler or of the calibration object first." };
  }
  const px = segmentLength(points);
  if (px < MIN_SEGMENT_PX) {
    return { ok: false, field: "points", error: `The segment is only ${formatPx(px)} long: draw at least ${MIN_SEGMENT_PX} px (zoom in to place its ends).` };
  }
  if (!CALIBRATION_METHODS.some((m) => m.method === method)) {
    return { ok: false, field: "method", error: "Choose ruler or calibration object." };
  }
  if (lengthText.trim() === "") return { ok: false, field: "length", error: "Enter the known length in millimetres." };
  const lengthMm = parseLength(lengthText);
  if (!Number.isFinite(lengthMm)) return { ok: false, field: "length", error: `“${lengthText.trim()}” is not a number: enter the known length in millimetres.` };
  if (lengthMm <= 0) return { ok: false, field: "length", error: "The known length must be greater than 0 mm." };
  const spacing = lengthMm / px;
  const [low, high] = SPACING_LIMITS_MM;
  if (spacing < low || spacing > high) {
    return { ok: false, field: "length", error: `${lengthMm} mm over ${formatPx(px)} gives ${formatSpacing(spacing)} mm/px, outside ${low}–${high}: check the points and the length.` };
  }
  const [a, b] = points;
  return { ok: true, spacing, request: { method: method as CalibrationMethod, points: [[a[0], a[1]], [b[0], b[1]]], length_mm: lengthMm } };
}

export interface ScaleStatus {
  status: CalibrationProvenance["status"];
  /** One line for the panel, e.g. "Scale: 0.143 mm/px (ruler, drawn by anna)". */
  text: string;
  /** A warning to show with it (detector-plane spacing), from the server. */
  notice: string | null;
}

/** The panel's scale line from `GET /api/images/<id>/calibration/`. */
export function scaleStatus(provenance: CalibrationProvenance): ScaleStatus {
  const spacing = provenance.pixel_spacing_mm;
  if (provenance.status === "uncalibrated" || spacing === null || !(spacing > 0)) {
    return { status: "uncalibrated", text: UNCALIBRATED_TEXT, notice: null };
  }
  const current = provenance.current;
  const method = current?.method ?? provenance.method;
  const how = METHOD_NAMES[method] ?? method;
  const by = current ? `, drawn by ${current.user ?? "a deleted user"}` : "";
  const notice = provenance.status === "detector_plane" ? provenance.notice ?? METHOD_NAMES.dicom_imager_pixel_spacing : null;
  return { status: provenance.status, text: `Scale: ${formatSpacing(spacing)} mm/px (${how}${by})`, notice };
}

/** A server error for the panel: its message, plus the field errors of a "Validation error". */
export function describeServerError(message: string, extra: Record<string, unknown> = {}): string {
  const fields = extra.fields;
  if (!fields || typeof fields !== "object") return message;
  const details = Object.entries(fields as Record<string, unknown>)
    .map(([field, errors]) => `${field}: ${Array.isArray(errors) ? errors.join(" ") : JSON.stringify(errors)}`);
  return details.length ? `${message}: ${details.join("; ")}` : message;
}
