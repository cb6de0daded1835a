import { describe, expect, it } from "vitest";
import { classify, formatRange, NORMAL_RANGES } from "./normals";

describe("normal-range classification (Paley, adult)", () => {
  it("uses the documented ranges", () => {
    expect([NORMAL_RANGES.mLDFA.low, NORMAL_RANGES.mLDFA.high]).toEqual([85, 90]);
    expect([NORMAL_RANGES.MPTA.low, NORMAL_RANGES.MPTA.high]).toEqual([85, 90]);
    expect([NORMAL_RANGES.mLDTA.low, NORMAL_RANGES.mLDTA.high]).toEqual([86, 92]);
    expect([NORMAL_RANGES.mLPFA.low, NORMAL_RANGES.mLPFA.high]).toEqual([85, 95]);
    expect([NORMAL_RANGES.aLDFA.low, NORMAL_RANGES.aLDFA.high]).toEqual([79, 83]);
    expect([NORMAL_RANGES.NSA.low, NORMAL_RANGES.NSA.high]).toEqual([120, 140]);
    expect([NORMAL_RANGES.JLCA.low, NORMAL_RANGES.JLCA.high]).toEqual([0, 2]);
    expect([NORMAL_RANGES.hka_deviation_deg.low, NORMAL_RANGES.hka_deviation_deg.high]).toEqual([-3, 3]);
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

  it("is unknown for missing values, unknown metrics and lengths in pixels", () => {
    expect(classify("mLDFA", null).status).toBe("unknown");
    expect(classify("mLDFA", Number.NaN).status).toBe("unknown");
    expect(classify("femoral_cora_deg", 12).status).toBe("unknown");
    expect(classify("MAD", 40, { unit: "px" }).status).toBe("unknown");
    expect(classify("MAD", 20, { unit: "mm" }).status).toBe("high");
  });

  it("flags a value whose 95% interval crosses a bound as uncertain", () => {
    expect(classify("MPTA", 89.5, { p2_5: 88.9, p97_5: 90.4 }).uncertain).toBe(true);
    expect(classify("MPTA", 87, { p2_5: 86.5, p97_5: 87.6 }).uncertain).toBe(false);
    expect(classify("MPTA", 92, { p2_5: 91, p97_5: 93 }).uncertain).toBe(false);
  });

  it("formats ranges for the table", () => {
    expect(formatRange(NORMAL_RANGES.mLDFA)).toBe("85–90°");
    expect(formatRange(NORMAL_RANGES.hka_deviation_deg)).toBe("-3 to +3°");
    expect(formatRange(NORMAL_RANGES.MAD)).toBe("1–15 mm");
    expect(formatRange(null)).toBe("");
  });
});
