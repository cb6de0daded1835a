import { describe, expect, it } from "vitest";
import { anyOverlap, declutter, type LabelBox } from "./labelLayout";

describe("overlay labels never collide", () => {
  it("moves overlapping labels down in order, leaving fixed ones alone", () => {
    const boxes: LabelBox[] = [
      { x: 100, y: 100, width: 120, height: 14 }, // mLDFA
      { x: 100, y: 104, width: 90, height: 14 }, // CORA label at nearly the same height
      { x: 150, y: 125, width: 40, height: 12, fixed: true }, // joint tag
      { x: 400, y: 100, width: 80, height: 14 }, // the other leg: untouched
    ];
    expect(anyOverlap(boxes)).toBe(true);
    const ys = declutter(boxes);
    expect(ys[0]).toBe(100);
    expect(ys[3]).toBe(100);
    expect(ys[2]).toBe(125);
    expect(anyOverlap(boxes.map((b, i) => ({ ...b, y: ys[i] })))).toBe(false);
    expect(ys[1]).toBeGreaterThan(ys[0]);
  });

  it("keeps a stack of knee labels in order", () => {
    const stack = [0, 1, 2, 3, 4].map((k) => ({ x: 10, y: 50 + k * 10, width: 100, height: 14 }));
    const ys = declutter(stack);
    expect([...ys].sort((a, b) => a - b)).toEqual(ys);
    expect(anyOverlap(stack.map((b, i) => ({ ...b, y: ys[i] })))).toBe(false);
  });
});
