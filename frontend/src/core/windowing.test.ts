import { describe, expect, it } from "vitest";
import { applyLut, DEFAULT_WINDOWING, dragWindowing, isIdentity, windowLut } from "./windowing";

describe("window/level", () => {
  it("the default is the identity", () => {
    const lut = windowLut(DEFAULT_WINDOWING);
    for (let v = 0; v < 256; v++) expect(lut[v]).toBe(v);
    expect(isIdentity(DEFAULT_WINDOWING)).toBe(true);
  });

  it("a narrow window stretches contrast and clips outside it", () => {
    const lut = windowLut({ window: 100, level: 100, invert: false });
    expect(lut[50]).toBe(0);
    expect(lut[40]).toBe(0);
    expect(lut[100]).toBe(128);
    expect(lut[150]).toBe(255);
    expect(lut[200]).toBe(255);
  });

  it("inverts", () => {
    const lut = windowLut({ ...DEFAULT_WINDOWING, invert: true });
    expect(lut[0]).toBe(255);
    expect(lut[255]).toBe(0);
  });

  it("applies to RGB and copies alpha", () => {
    const src = new Uint8ClampedArray([10, 20, 30, 200]);
    const dst = new Uint8ClampedArray(4);
    applyLut(src, dst, windowLut({ ...DEFAULT_WINDOWING, invert: true }));
    expect([...dst]).toEqual([245, 235, 225, 200]);
  });

  it("right-drag: right widens the window, down raises the level; limits hold", () => {
    const wider = dragWindowing(DEFAULT_WINDOWING, 100, 0);
    expect(wider.window).toBeGreaterThan(255);
    const darker = dragWindowing(DEFAULT_WINDOWING, 0, 40);
    expect(darker.level).toBe(148);
    expect(dragWindowing(DEFAULT_WINDOWING, -5000, 0).window).toBe(1);
  });
});
