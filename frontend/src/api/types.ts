/**
 * Shapes of the JSON the server sends. Written from annotations/apis.py, inference/apis.py, the
 * alignment contract (architecture.md §6) and the SAM / review contracts of issue #5. Fields the UI
 * can live without are optional: the code reading them copes with their absence.
 */

import type { Point } from "../core/geometry";

export interface ImageInfo {
  id: number;
  case: number;
  name: string;
  width: number;
  height: number;
  bit_depth?: number;
  pixel_spacing_mm: number | null;
  spacing_source?: string;
  head_revision: number | null;
  display_url: string;
  thumbnail_url: string;
}

export interface RevisionInfo {
  id: number;
  image: number;
  number: number;
  parent: number | null;
  source: string;
  author: string | null;
  message?: string;
  created_at: string;
  document: Record<string, unknown>;
}

/** The `extra.head_revision` of a 409 (annotations.services.revision_summary). */
export interface HeadSummary {
  id: number;
  number: number;
  source: string;
  author: string | null;
  created_at: string;
  document: Record<string, unknown>;
}

export interface MetricJson {
  value: number | null;
  sd?: number | null;
  p2_5?: number | null;
  p97_5?: number | null;
  mean?: number | null;
  n?: number;
  unit?: string;
  method?: string;
  value_px?: number | null;
  point?: Point | null;
}

export interface LegAlignmentJson {
  image_side: "left" | "right" | string;
  anatomical_side: "left" | "right" | null | string;
  joints: { hip?: Point | null; knee?: Point | null; ankle?: Point | null };
  metrics: Record<string, MetricJson | null>;
  flags: string[];
  /** Optional constructions (joint lines, axes) when a server sends them. */
  landmarks?: Record<string, unknown>;
  /** Metrics that need anatomy outside the image (a cut film): `{metric: "ankle outside the image"}`. */
  not_measurable?: Record<string, string>;
}

export interface AlignmentJson {
  image?: string | null;
  width: number;
  height: number;
  pixel_spacing_mm: number | null;
  legs: LegAlignmentJson[];
  flags?: string[];
  /** Leg-length difference, right minus left, when the server measured both legs (issue 14). */
  lld?: { value: number; unit?: string } | null;
}

export interface PredictionInfo {
  id: number;
  image: number;
  ensemble_version: number;
  status: string;
  document: Record<string, unknown> | null;
  alignment: AlignmentJson | null;
  uncertainty: Record<string, number | null>;
  member_outputs?: MemberOutputs;
  /** While queued: predictions that run first and about when this one is done. */
  queue?: { ahead: number; eta_seconds: number } | null;
  created_at: string;
}

export interface MemberOutputs {
  keypoint?: { fold: number; model: string; joints_xy: number[][][]; scores?: number[][] }[];
  segmentation?: { fold: number; model: string; iou_vs_ensemble?: Record<string, number> }[];
}

export interface SamModel {
  name: string;
  available: boolean;
  message?: string;
}

/** A batch SAM pre-labelling job (GET /api/sam/prelabel/<id>/). */
export interface PrelabelJob {
  id: number;
  status: "queued" | "running" | "succeeded" | "failed" | "cancelled";
  model: string;
  total: number;
  /** Images that got a sam_assisted revision. */
  done: number;
  /** Images that already had a revision. */
  skipped: number;
  failed: number;
  errors: Record<string, string>;
  error: string;
}

export interface SamModels {
  default: string | null;
  models: SamModel[];
}

export interface SamRequest {
  /** Clicks and their labels (1 inside, 0 outside); left out when there are none. */
  points?: Point[];
  labels?: number[];
  /** [x0, y0, x1, y1]; left out when there is no box. */
  box?: [number, number, number, number];
  tolerance_px: number;
  model?: string;
  /** Echoed back by the server (the bone being outlined). */
  label?: string;
}

export interface SamResponse {
  polygons: Point[][];
  score: number | null;
  embedding_cached?: boolean;
  timings?: Record<string, number>;
}

export interface ReviewImage {
  id: number;
  thumbnail_url?: string;
  display_url?: string;
  width?: number;
  height?: number;
  name?: string;
}

export interface ReviewItem {
  id: number;
  status: string;
  priority: number | null;
  priority_components?: Record<string, number | null>;
  image: ReviewImage;
  patient?: { id?: number; code?: string; cohort?: string } | string | null;
  patient_code?: string | null;
  cohort?: string | null;
  case?: { id?: number; date?: string | null; acquisition_date?: string | null; view?: string } | null;
  prediction?: { id?: number; document?: Record<string, unknown> | null; alignment?: AlignmentJson | null } | number | null;
  ensemble?: { id?: number; name?: string } | number | string | null;
  metrics?: Record<string, MetricJson | null>[] | Record<string, unknown> | null;
  /** Key metrics per leg: {image_side, anatomical_side, hka_deviation_deg: {value, sd}, mLDFA, MPTA}. */
  legs?: Record<string, unknown>[] | null;
  /** The prediction found no leg (outside intended use): listed only under the queue's "not a leg" filter. */
  outside_intended_use?: boolean;
  decided_by?: string | null;
  decided_at?: string | null;
  revision?: number | null;
  created_at?: string;
  member_outputs?: MemberOutputs;
  flags?: string[] | Record<string, unknown> | null;
  head_revision?: number | { id: number } | null;
  assignee?: string | null;
  document?: Record<string, unknown> | null;
  alignment?: AlignmentJson | null;
  /** Leg-length difference of the prediction, right minus left (issue 14), when known. */
  lld?: { value: number; unit?: string } | null;
}

export interface ReviewEvent {
  id?: number;
  action?: string;
  kind?: string;
  actor?: string | null;
  user?: string | null;
  note?: string;
  reason?: string;
  from_status?: string;
  to_status?: string;
  created_at?: string;
  revision?: number | null;
}

/** How a user calibrated an image (clinical.models.DRAWN_METHODS). */
export type CalibrationMethod = "ruler" | "calibration_object";

/** One ImageCalibration row (clinical/selectors/calibration.py `_calibration_json`). */
export interface CalibrationRecord {
  id: number;
  method: CalibrationMethod;
  method_label: string;
  points: Point[];
  known_length_mm: number;
  pixel_spacing_mm: number;
  previous_pixel_spacing_mm: number | null;
  previous_spacing_source: string;
  user: string | null;
  created_at: string;
}

/** GET/POST /api/images/<id>/calibration/ (`image_calibration_provenance`). */
export interface CalibrationProvenance {
  image: number;
  pixel_spacing_mm: number | null;
  spacing_source: string;
  /** dicom_pixel_spacing, dicom_imager_pixel_spacing, ruler, calibration_object, user or none. */
  method: string;
  status: "calibrated" | "detector_plane" | "uncalibrated";
  length_unit: "mm" | "px";
  notice: string | null;
  dicom?: Record<string, unknown>;
  /** The user calibration in force (null unless spacing_source is "user"). */
  current: CalibrationRecord | null;
  history: CalibrationRecord[];
}

export interface CalibrationRequest {
  method: CalibrationMethod;
  points: [Point, Point];
  length_mm: number;
}
