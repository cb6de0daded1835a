import { describe, expect, it } from "vitest";
import { fitView, imageToScreen, MAX_SCALE, pan, screenToImage, wheelZoomFactor, zoomAt, type View } from "./viewport";

describe("viewport transforms", () => {
  const view: View = { scale: 0.25, tx: 40, ty: -120 };

  it("image → screen → image is the identity", () => {
    const p: [number, number] = [1234.5, 5678.25];
    const back = screenToImage(view, imageToScreen(view, p));
    expect(back[0]).toBeCloseTo(p[0], 9);
    expect(back[1]).toBeCloseTo(p[1], 9);
  });

  it("zooming around the cursor keeps the image point under the cursor fixed", () => {
    const cursor: [number, number] = [311, 207];
    const under = screenToImage(view, cursor);
    for (const factor of [1.2, 0.5, 3, 1 / 7]) {
      const zoomed = zoomAt(view, cursor, factor);
      expect(zoomed.scale).toBeCloseTo(view.scale * factor, 12);
      const after = imageToScreen(zoomed, under);
      expect(after[0]).toBeCloseTo(cursor[0], 9);
      expect(after[1]).toBeCloseTo(cursor[1], 9);
    }
  });

  it("clamps the scale and still keeps the anchor fixed", () => {
    const cursor: [number, number] = [100, 100];
    const under = screenToImage(view, cursor);
    const zoomed = zoomAt(view, cursor, 1e6);
    expect(zoomed.scale).toBe(MAX_SCALE);
    const after = imageToScreen(zoomed, under);
    expect(after[0]).toBeCloseTo(100, 6);
    expect(after[1]).toBeCloseTo(100, 6);
  });

  it("pans by screen pixels", () => {
    expect(pan(view, 10, -5)).toEqual({ scale: 0.25, tx: 50, ty: -125 });
  });

  it("fits a tall radiograph into the view, centred", () => {
    const fit = fitView(2000, 6000, 900, 700, 10);
    expect(fit.scale).toBeCloseTo(680 / 6000, 12);
    const topLeft = imageToScreen(fit, [0, 0]);
    const bottomRight = imageToScreen(fit, [2000, 6000]);
    expect(topLeft[1]).toBeCloseTo(10);
    expect(bottomRight[1]).toBeCloseTo(690);
    expect((topLeft[0] + bottomRight[0]) / 2).toBeCloseTo(450);
  });

  it("turns wheel deltas into zoom factors (down = out)", () => {
    expect(wheelZoomFactor(100)).toBeLessThan(1);
    expect(wheelZoomFactor(-100)).toBeGreaterThan(1);
    expect(wheelZoomFactor(100) * wheelZoomFactor(-100)).toBeCloseTo(1, 12);
    expect(wheelZoomFactor(3, 1)).toBeCloseTo(wheelZoomFactor(99), 12);
  });
});
