import { describe, expect, it } from "vitest";
import cases from "./clinicalText.cases.json";
import { formatHka, hkaDirection, judgementText, legSideTitle, lengthText, lldText, outsideIntendedUse, patientSideFlag } from "./clinicalText";

// The same cases are checked against clinical/core/presentation.py by tests/clinical/core/test_presentation.py.
describe("one wording on every screen (shared cases with the server)", () => {
  it("shows HKA as the angle with the signed deviation's direction", () => {
    for (const c of cases.hka) {
      expect(formatHka(c.deviation)).toBe(c.text);
      expect(hkaDirection(c.deviation)).toBe(c.direction);
    }
    // The example: a valgus +9.0° deviation never reads as a bare "HKA 171.0°".
    expect(formatHka(9)).toBe("HKA 171.0° (9.0° valgus)");
  });

  it("judges with the same words", () => {
    for (const c of cases.judgement) expect(judgementText(c.metric, c.status, c.crosses)).toBe(c.text);
  });

  it("names the patient's side, the image side only as a labelled hint", () => {
    for (const c of cases.side) expect(legSideTitle(c.anatomical, c.image)).toBe(c.text);
    for (const c of cases.flag) expect(patientSideFlag(c.flag, c.legs)).toBe(c.text);
  });

  it("writes lengths in their unit", () => {
    for (const c of cases.length) expect(lengthText(c.value, c.unit)).toBe(c.text);
    for (const c of cases.lld) expect(lldText(c.value, c.unit)).toBe(c.text);
  });

  it("finds an outside-intended-use flag", () => {
    expect(outsideIntendedUse(["knee_update_skipped", "outside_intended_use: no full-length leg found"])).toBe("outside_intended_use: no full-length leg found");
    expect(outsideIntendedUse(["knee_update_skipped"])).toBeNull();
    expect(outsideIntendedUse(undefined)).toBeNull();
  });
});
