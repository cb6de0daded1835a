import { beforeEach, describe, expect, it } from "vitest";
import fixture from "./normalRanges.fixture.json";
import { classify, formatRange, normalRange, setNormalRanges, type NormalRangeTable } from "./normals";

// The fixture is the server's table (tests/clinical/core/test_normal_ranges.py keeps it equal).
describe("normal-range classification with the server's table", () => {
  beforeEach(() => setNormalRanges(fixture.adult as NormalRangeTable));

  it("has no ranges of its own: without the server's table nothing is judged", () => {
    setNormalRanges(null);
    expect(classify("mLDFA", 70).status).toBe("unknown");
    expect(normalRange("NSA")).toBeNull();
  });

  it("uses the server's ranges (the report's: NSA 125–135°)", () => {
    expect([normalRange("mLDFA")!.low, normalRange("mLDFA")!.high]).toEqual([85, 90]);
    expect([normalRange("NSA")!.low, normalRange("NSA")!.high]).toEqual([125, 135]);
    expect(classify("NSA", 122.3).status).toBe("low");
  });

  it("classifies low / normal / high with inclusive bounds", () => {
    expect(classify("mLDFA", 84.9).status).toBe("low");
    expect(classify("mLDFA", 85).status).toBe("normal");
    expect(classify("mLDFA", 90).status).toBe("normal");
    expect(classify("mLDFA", 90.1).status).toBe("high");
    expect(classify("hka_deviation_deg", -4.2).status).toBe("low"); // varus beyond 3°
    expect(classify("hka_deviation_deg", 3.5).status).toBe("high"); // valgus beyond 3°
    expect(classify("JLCA", 0).status).toBe("normal");
  });

  it("is unknown for missing values, unknown metrics and lengths in pixels or without a unit", () => {
    expect(classify("mLDFA", null).status).toBe("unknown");
    expect(classify("mLDFA", Number.NaN).status).toBe("unknown");
    expect(classify("femoral_cora_deg", 12).status).toBe("unknown");
    expect(classify("MAD", 40, { unit: "px" }).status).toBe("unknown");
    expect(classify("MAD", 40).status).toBe("unknown");
    expect(classify("MAD", 20, { unit: "mm" }).status).toBe("high");
  });

  it("flags a value whose 95% interval crosses a bound as uncertain", () => {
    expect(classify("MPTA", 89.5, { p2_5: 88.9, p97_5: 90.4 }).uncertain).toBe(true);
    expect(classify("MPTA", 87, { p2_5: 86.5, p97_5: 87.6 }).uncertain).toBe(false);
    expect(classify("MPTA", 92, { p2_5: 91, p97_5: 93 }).uncertain).toBe(false);
  });

  it("shows the server's wording of the ranges", () => {
    expect(formatRange(normalRange("mLDFA"))).toBe("85–90°");
    expect(formatRange(normalRange("hka_deviation_deg"))).toBe("3° varus to 3° valgus");
    expect(formatRange(normalRange("MAD"))).toBe("1–15 mm");
    expect(formatRange(null)).toBe("");
  });

  it("does not judge a toddler with adult ranges", () => {
    setNormalRanges(fixture.age_1 as NormalRangeTable);
    const mpta = classify("MPTA", 80);
    expect(mpta.status).toBe("unknown");
    expect(mpta.reason).toContain("No cited range at age 1 y");
    expect(classify("hka_deviation_deg", -3.6).status).toBe("unknown"); // a mean, no range
  });
});
