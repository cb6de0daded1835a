/** Every server URL the UI calls, in one place. */

import { getJson, postJson, query, rowsOf } from "./http";
import type {
  AlignmentJson,
  CalibrationProvenance,
  CalibrationRequest,
  ImageInfo,
  PredictionInfo,
  ReviewEvent,
  ReviewItem,
  RevisionInfo,
  PrelabelJob,
  SamModels,
  SamRequest,
  SamResponse,
} from "./types";

export const urls = {
  image: (id: number) => `/api/images/${id}/`,
  display: (id: number) => `/api/images/${id}/display/`,
  thumbnail: (id: number) => `/api/images/${id}/thumbnail/`,
  revisions: (id: number) => `/api/images/${id}/revisions/`,
  revisionCreate: (id: number) => `/api/images/${id}/revisions/create/`,
  revision: (id: number) => `/api/revisions/${id}/`,
  predictions: (id: number) => `/api/images/${id}/predictions/`,
  calibration: (id: number) => `/api/images/${id}/calibration/`,
  align: () => `/api/align/`,
  sam: (id: number) => `/api/images/${id}/sam/`,
  samModels: () => `/api/sam/models/`,
  prelabelStart: () => `/api/sam/prelabel/`,
  prelabelJob: (id: number) => `/api/sam/prelabel/${id}/`,
  reviewItems: () => `/api/review/items/`,
  reviewItem: (id: number) => `/api/review/items/${id}/`,
  reviewAction: (id: number, action: "accept" | "correct" | "reject" | "checks") => `/api/review/items/${id}/${action}/`,
  reviewEvents: (imageId: number) => `/api/images/${imageId}/review-events/`,
  editorPage: (imageId: number) => `/images/${imageId}/`,
  reviewPage: (itemId: number) => `/review/${itemId}/`,
  readings: (studyId: number) => `/api/reader-studies/${studyId}/readings/`,
  readPage: (studyId: number) => `/reader-studies/${studyId}/read/`,
};

export const api = {
  image: (id: number) => getJson<ImageInfo>(urls.image(id)),
  revision: (id: number) => getJson<RevisionInfo>(urls.revision(id)),
  async revisions(imageId: number, limit = 20): Promise<RevisionInfo[]> {
    return rowsOf<RevisionInfo>(await getJson(urls.revisions(imageId) + query({ limit })));
  },
  createRevision: (imageId: number, body: { base_revision: number | null; document: unknown; source: string; message?: string }) =>
    postJson<RevisionInfo>(urls.revisionCreate(imageId), body),
  async predictions(imageId: number): Promise<PredictionInfo[]> {
    return rowsOf<PredictionInfo>(await getJson(urls.predictions(imageId)));
  },
  calibration: (imageId: number) => getJson<CalibrationProvenance>(urls.calibration(imageId)),
  calibrate: (imageId: number, body: CalibrationRequest) => postJson<CalibrationProvenance>(urls.calibration(imageId), body),
  align: (body: { document: unknown; width: number; height: number; image?: number }, signal?: AbortSignal) =>
    postJson<AlignmentJson>(urls.align(), body, { signal }),
  sam: (imageId: number, body: SamRequest, signal?: AbortSignal) => postJson<SamResponse>(urls.sam(imageId), body, { signal }),
  samModels: () => getJson<SamModels>(urls.samModels()),
  prelabelStart: (body: { case_ids?: number[]; image_ids?: number[] }) => postJson<{ job: number }>(urls.prelabelStart(), body),
  prelabelJob: (id: number) => getJson<PrelabelJob>(urls.prelabelJob(id)),
  async reviewItems(filters: Record<string, string | number | null | undefined>): Promise<ReviewItem[]> {
    return rowsOf<ReviewItem>(await getJson(urls.reviewItems() + query(filters)));
  },
  reviewItem: (id: number) => getJson<ReviewItem>(urls.reviewItem(id)),
  reviewAccept: (id: number, body: { base_revision: number | null; override_reason?: string }) =>
    postJson<unknown>(urls.reviewAction(id, "accept"), body),
  /** Flags and accept blockers of the document the reviewer is looking at. */
  reviewChecks: (id: number, body: { document: unknown }, signal?: AbortSignal) =>
    postJson<{ flags: string[]; blockers: string[] }>(urls.reviewAction(id, "checks"), body, { signal }),
  reviewCorrect: (id: number, body: { base_revision: number | null; document: unknown }) =>
    postJson<unknown>(urls.reviewAction(id, "correct"), body),
  reviewReject: (id: number, body: { reason: string }) => postJson<unknown>(urls.reviewAction(id, "reject"), body),
  readingCreate: (studyId: number, body: { image: number; document: unknown }) =>
    postJson<{ id: number; image: number; aligned: boolean; alignment_error: string }>(urls.readings(studyId), body),
  async reviewEvents(imageId: number): Promise<ReviewEvent[]> {
    return rowsOf<ReviewEvent>(await getJson(urls.reviewEvents(imageId)));
  },
};
