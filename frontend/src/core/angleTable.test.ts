import { beforeAll, describe, expect, it } from "vitest";
import { angleRow, legRows } from "./angleTable";
import fixture from "./normalRanges.fixture.json";
import { setNormalRanges, type NormalRangeTable } from "./normals";

beforeAll(() => setNormalRanges(fixture.adult as NormalRangeTable));

describe("the editor's per-leg table", () => {
  it("shows HKA as the angle with varus/valgus, never a bare angle or a bare signed number (item 5)", () => {
    const row = angleRow("hka_deviation_deg", { value: 9.0, sd: 0.4, p2_5: 8.2, p97_5: 9.8 });
    expect(row.title).toBe("HKA");
    expect(row.value).toBe("171.0° (9.0° valgus)");
    expect(row.range).toBe("3° varus to 3° valgus");
    expect(row.judgement).toBe("valgus");
    expect(angleRow("hka_deviation_deg", { value: -9.0 }).value).toBe("171.0° (9.0° varus)");
    expect(angleRow("hka_deviation_deg", { value: -9.0 }).judgement).toBe("varus");
  });

  it("judges NSA with the report's range and words (item 6)", () => {
    const row = angleRow("NSA", { value: 122.3, sd: 0.9, p2_5: 120.6, p97_5: 124.0 });
    expect(row.range).toBe("125–135°");
    expect(row.judgement).toBe("low");
    const borderline = angleRow("NSA", { value: 126, sd: 0.9, p2_5: 124.5, p97_5: 127.5 });
    expect(borderline.judgement).toBe("normal, borderline");
  });

  it("never puts a range in mm beside a MAD in px", () => {
    const px = angleRow("MAD", { value: 40, unit: "px" });
    expect(px.value).toBe("40 px");
    expect(px.range).toBe("judged in mm only");
    expect(px.judgement).toBe("");
    expect(px.status).toBe("unknown");
    const mm = angleRow("MAD", { value: 20, unit: "mm" });
    expect(mm.range).toBe("1–15 mm");
    expect(mm.judgement).toBe("high");
  });

  it("adds the lengths of newer alignments and copes without them", () => {
    const rows = legRows({ metrics: {
      hka_deviation_deg: { value: -2 }, HKA: { value: 178 }, MPTA: { value: 87 },
      leg_length: { value: 812.44, unit: "mm" }, femur_length: { value: 450.1, unit: "mm" }, tibia_length: null,
    } });
    expect(rows.map((r) => r.metric)).toEqual(["hka_deviation_deg", "MPTA", "leg_length", "femur_length"]);
    expect(rows.find((r) => r.metric === "leg_length")!.value).toBe("812.4 mm");
    expect(rows.find((r) => r.metric === "leg_length")!.title).toBe("Leg length");
    expect(legRows({ metrics: { MPTA: { value: 87 } } }).map((r) => r.metric)).toEqual(["MPTA"]);
  });

  it("says why a metric of a cut film is missing (issue 24, item 5)", () => {
    const rows = legRows({ metrics: { hka_deviation_deg: null, mLDFA: { value: 87.2 }, leg_length: null },
      not_measurable: { hka_deviation_deg: "ankle outside the image", leg_length: "ankle outside the image" } });
    const byName = Object.fromEntries(rows.map((r) => [r.metric, r]));
    expect(byName.hka_deviation_deg.value).toBe("not measurable");
    expect(byName.hka_deviation_deg.range).toBe("ankle outside the image");
    expect(byName.leg_length.value).toBe("not measurable");
    expect(byName.mLDFA.value).toBe("87.2°");
  });
});

