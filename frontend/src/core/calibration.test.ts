import { describe, expect, it } from "vitest";
import type { CalibrationProvenance, CalibrationRecord } from "../api/types";
import {
  describeServerError,
  formatSpacing,
  parseLength,
  scaleStatus,
  segmentLength,
  spacingFromPoints,
  UNCALIBRATED_TEXT,
  validateCalibration,
} from "./calibration";
import type { Point } from "./geometry";

const RULER: Point[] = [[100, 100], [100, 800]]; // 700 px

function provenance(change: Partial<CalibrationProvenance>): CalibrationProvenance {
  return {
    image: 7, pixel_spacing_mm: null, spacing_source: "none", method: "none", status: "uncalibrated", length_unit: "px",
    notice: "Image not calibrated: lengths are in pixels, not millimetres. Angles are unaffected.", current: null, history: [],
    ...change,
  };
}

const record: CalibrationRecord = {
  id: 1, method: "ruler", method_label: "Ruler drawn by a user", points: RULER, known_length_mm: 100,
  pixel_spacing_mm: 100 / 700, previous_pixel_spacing_mm: null, previous_spacing_source: "none", user: "anna",
  created_at: "2024-05-01T10:00:00+00:00",
};

describe("segment length and spacing", () => {
  it("measures the clicked segment and divides the known length by it", () => {
    expect(segmentLength([[0, 0], [30, 40]])).toBe(50);
    expect(segmentLength([[0, 0]])).toBe(0);
    expect(spacingFromPoints(RULER, 100)).toBeCloseTo(0.142857, 6);
    expect(spacingFromPoints([[5, 5], [5, 5]], 100)).toBeNull();
    expect(formatSpacing(100 / 700)).toBe("0.143");
    expect(formatSpacing(0.01432)).toBe("0.0143");
    expect(formatSpacing(1.5)).toBe("1.50");
  });

  it("parses typed lengths, with a decimal comma", () => {
    expect(parseLength(" 100 ")).toBe(100);
    expect(parseLength("12,5")).toBe(12.5);
    expect(parseLength("")).toBeNaN();
    expect(parseLength("ten")).toBeNaN();
  });
});

describe("validation before the request", () => {
  it("builds the request for two points, a method and a positive length", () => {
    const check = validateCalibration(RULER, "calibration_object", "100");
    expect(check).toEqual({
      ok: true, spacing: 100 / 700,
      request: { method: "calibration_object", points: [[100, 100], [100, 800]], length_mm: 100 },
    });
  });

  it("refuses zero, negative, empty and non-numeric lengths with a clear message", () => {
    for (const [text, message] of [
      ["0", "greater than 0 mm"], ["-5", "greater than 0 mm"], ["", "Enter the known length"], ["abc", "is not a number"],
    ]) {
      const check = validateCalibration(RULER, "ruler", text);
      expect(check.ok).toBe(false);
      if (!check.ok) {
        expect(check.field).toBe("length");
        expect(check.error).toContain(message);
      }
    }
  });

  it("refuses missing or too short segments, unknown methods and implausible spacings", () => {
    const one = validateCalibration([[1, 1]], "ruler", "100");
    expect(!one.ok && one.field).toBe("points");
    const short = validateCalibration([[1, 1], [5, 4]], "ruler", "10");
    expect(!short.ok && short.error).toContain("only 5.0 px long");
    const method = validateCalibration(RULER, "dicom_pixel_spacing", "100");
    expect(!method.ok && method.field).toBe("method");
    const huge = validateCalibration(RULER, "ruler", "10000"); // 14 mm/px
    expect(!huge.ok && huge.error).toContain("outside 0.01–5");
  });
});

describe("scale status line", () => {
  it("says uncalibrated when there is no spacing", () => {
    expect(scaleStatus(provenance({}))).toEqual({ status: "uncalibrated", text: UNCALIBRATED_TEXT, notice: null });
  });

  it("names the method and who drew a user calibration", () => {
    const status = scaleStatus(provenance({
      pixel_spacing_mm: 100 / 700, spacing_source: "user", method: "ruler", status: "calibrated", length_unit: "mm", notice: null,
      current: record, history: [record],
    }));
    expect(status.text).toBe("Scale: 0.143 mm/px (ruler, drawn by anna)");
    expect(status.notice).toBeNull();
    const object = scaleStatus(provenance({
      pixel_spacing_mm: 0.2, spacing_source: "user", method: "calibration_object", status: "calibrated", notice: null,
      current: { ...record, method: "calibration_object", user: null }, history: [],
    }));
    expect(object.text).toBe("Scale: 0.200 mm/px (calibration object, drawn by a deleted user)");
  });

  it("shows DICOM spacings, flagging the detector plane with the server's notice", () => {
    const patient = scaleStatus(provenance({ pixel_spacing_mm: 0.15, spacing_source: "dicom", method: "dicom_pixel_spacing", status: "calibrated", notice: null }));
    expect(patient.text).toBe("Scale: 0.150 mm/px (DICOM PixelSpacing, patient plane)");
    const notice = "Scale from DICOM ImagerPixelSpacing (detector plane): magnification unknown, …";
    const detector = scaleStatus(provenance({
      pixel_spacing_mm: 0.139, spacing_source: "dicom_imager", method: "dicom_imager_pixel_spacing", status: "detector_plane", notice,
    }));
    expect(detector.status).toBe("detector_plane");
    expect(detector.text).toBe("Scale: 0.139 mm/px (DICOM ImagerPixelSpacing: detector plane, magnification unknown)");
    expect(detector.notice).toBe(notice);
  });
});

describe("server errors", () => {
  it("keeps the message and adds field errors of a validation error", () => {
    expect(describeServerError("Point (600, 10) lies outside the 512x1024 image.", { code: "point_outside_image" }))
      .toBe("Point (600, 10) lies outside the 512x1024 image.");
    expect(describeServerError("Validation error", { fields: { length_mm: ["Ensure this value is greater than or equal to 0.001."] } }))
      .toBe("Validation error: length_mm: Ensure this value is greater than or equal to 0.001.");
  });
});
