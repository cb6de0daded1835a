import { beforeAll, describe, expect, it } from "vitest";
import type { LegAlignmentJson } from "../api/types";
import { directionAtAngle, legOverlay, medialSign, rotateDeg, tangentCentre } from "./angleOverlay";
import fixture from "./normalRanges.fixture.json";
import { setNormalRanges, type NormalRangeTable } from "./normals";

beforeAll(() => setNormalRanges(fixture.adult as NormalRangeTable));

function angleBetween(a: number[], b: number[]): number {
  const dot = a[0] * b[0] + a[1] * b[1];
  return (Math.acos(dot / (Math.hypot(a[0], a[1]) * Math.hypot(b[0], b[1]))) * 180) / Math.PI;
}

const leg: LegAlignmentJson = {
  image_side: "left",
  anatomical_side: "right",
  joints: { hip: [200, 100], knee: [220, 500], ankle: [215, 900] },
  metrics: {
    hka_deviation_deg: { value: -4.1, sd: 0.2, p2_5: -4.5, p97_5: -3.7 },
    mLDFA: { value: 88, sd: 0.3 },
    MPTA: { value: 84, sd: 0.4 },
    mLDTA: { value: 90, sd: 0.2 },
    MAD: { value: 12, unit: "px" },
    femoral_cora_deg: { value: 6.5, point: [210, 300] },
    tibial_cora_deg: null,
  },
  flags: [],
};

describe("angles overlay geometry", () => {
  it("rotates clockwise on screen for positive angles (y down)", () => {
    const r = rotateDeg([1, 0], 90);
    expect(r[0]).toBeCloseTo(0);
    expect(r[1]).toBeCloseTo(1);
  });

  it("chooses the mirror candidate pointing toward the asked side", () => {
    const up: [number, number] = [0, -1];
    const right = directionAtAngle(up, 80, 1);
    const left = directionAtAngle(up, 80, -1);
    expect(right[0]).toBeGreaterThan(0);
    expect(left[0]).toBeLessThan(0);
    expect(angleBetween(up, right)).toBeCloseTo(80, 9);
    expect(angleBetween(up, left)).toBeCloseTo(80, 9);
  });

  it("medial is toward the other leg, or from the anatomical side for one leg", () => {
    expect(medialSign({ ...leg, image_side: "left" }, 2)).toBe(1);
    expect(medialSign({ ...leg, image_side: "right" }, 2)).toBe(-1);
    expect(medialSign({ ...leg, anatomical_side: "left" }, 1)).toBe(-1);
  });

  it("draws axes, the weight-bearing line, joint lines at the measured angles, and CORA", () => {
    const o = legOverlay(leg, 0, 1);
    const kinds = o.segments.map((s) => s.kind);
    expect(kinds.filter((k) => k === "joint-line")).toHaveLength(3);
    expect(kinds).toContain("femoral-axis");
    expect(kinds).toContain("weight-bearing");
    const knee = leg.joints.knee!;
    const hip = leg.joints.hip!;
    const femoralLine = o.segments.find((s) => s.name === "distal femoral")!;
    // directed medial -> lateral; this (anatomically right) leg's lateral side is -x
    const dir = [femoralLine.b[0] - femoralLine.a[0], femoralLine.b[1] - femoralLine.a[1]];
    expect(dir[0]).toBeLessThan(0);
    expect(angleBetween([hip[0] - knee[0], hip[1] - knee[1]], dir)).toBeCloseTo(88, 6);
    const plateau = o.segments.find((s) => s.name === "tibial plateau")!;
    const pdir = [plateau.b[0] - plateau.a[0], plateau.b[1] - plateau.a[1]];
    expect(angleBetween([leg.joints.ankle![0] - knee[0], leg.joints.ankle![1] - knee[1]], pdir)).toBeCloseTo(84, 6);
    expect(o.cora).toEqual([{ at: [210, 300], text: "CORA 6.5°", metric: "femoral_cora_deg", side: -1 }]);
  });

  it("labels metrics with their range status, skipping nulls", () => {
    const o = legOverlay(leg, 0, 1);
    const byMetric = Object.fromEntries(o.labels.map((l) => [l.metric, l]));
    expect(byMetric.hka_deviation_deg.text).toBe("HKA 175.9° (4.1° varus)");
    expect(byMetric.hka_deviation_deg.status).toBe("low");
    expect(byMetric.MPTA.status).toBe("low");
    expect(byMetric.mLDFA.status).toBe("normal");
    expect(byMetric.MAD.text).toBe("MAD 12 px");
    expect(byMetric.NSA).toBeUndefined();
  });

  it("puts the distal femoral line on the condyles when the femur outline is known", () => {
    // A square "femur" whose distal edge is at y = 480, above the knee point (y = 500).
    const femur: [number, number][] = [[150, 120], [260, 120], [260, 480], [150, 480]];
    expect(tangentCentre(femur, [200, 500], [0, 1])).toEqual([200, 480]);
    const o = legOverlay(leg, 0, 1, { femur });
    const line = o.segments.find((s) => s.name === "distal femoral")!;
    const mid = [(line.a[0] + line.b[0]) / 2, (line.a[1] + line.b[1]) / 2];
    expect(mid[1]).toBeLessThan(500);
    expect(mid[1]).toBeGreaterThan(470);
    // labels go to the lateral side (-x for this right leg), HKA on top of the knee's stack
    const hka = o.labels.find((l) => l.metric === "hka_deviation_deg")!;
    expect(hka.side).toBe(-1);
    expect(Math.min(...o.labels.filter((l) => l.at[1] === leg.joints.knee![1]).map((l) => l.line))).toBe(hka.line);
  });

  it("prefers explicit landmark segments when the server sends them", () => {
    const o = legOverlay({ ...leg, landmarks: { femoral_joint_line: [[1, 2], [3, 4]], plateau: { p0: [5, 6], p1: [7, 8] }, junk: 3 } }, 0, 1);
    expect(o.segments.filter((s) => s.kind === "joint-line")).toHaveLength(0);
    expect(o.segments.filter((s) => s.kind === "landmark").map((s) => s.name)).toEqual(["femoral_joint_line", "plateau"]);
  });

  it("copes with a leg without joints", () => {
    const o = legOverlay({ image_side: "left", anatomical_side: null, joints: {}, metrics: {}, flags: ["no joints"] }, 0, 1);
    expect(o.segments).toEqual([]);
    expect(o.labels).toEqual([]);
  });
});

describe("landmarks of newer alignments (issue 14)", () => {
  it("draws the femoral-head apex and knee joint-line ends as points; older alignments have none", () => {
    const withMarks = { ...leg, landmarks: { femoral_head_apex: [100, 40], medial_knee_joint_line: [120, 500], lateral_knee_joint_line: [80, 502] } } as LegAlignmentJson;
    const o = legOverlay(withMarks, 0, 1);
    expect(o.points.map((p) => p.name)).toEqual(["femoral_head_apex", "medial_knee_joint_line", "lateral_knee_joint_line"]);
    expect(o.segments.some((s) => s.kind === "joint-line")).toBe(true); // points are not segments: joint lines still drawn
    expect(legOverlay(leg, 0, 1).points).toEqual([]);
  });
});
