// POST /api/images/<id>/calibration/ is mocked here; the browser tests call the real one.
import { afterEach, describe, expect, it } from "vitest";
import { setFetch } from "../api/http";
import { emptyDocument } from "../core/labelme";
import { CalibrationController } from "./calibration";
import { EditorStore } from "./store";

afterEach(() => setFetch((...args) => fetch(...args)));

function setup() {
  const store = new EditorStore(512, 1024, emptyDocument({ width: 512, height: 1024 }));
  const controller = new CalibrationController(store, () => 7, () => undefined);
  return { store, controller };
}

describe("calibrate tool (mocked API)", () => {
  it("takes two clicks as the segment; a third starts a new one", () => {
    const { store, controller } = setup();
    controller.click([10, 10]);
    controller.click([10, 710]);
    expect(store.calibration.points).toEqual([[10, 10], [10, 710]]);
    controller.click([50, 50]);
    expect(store.calibration.points).toEqual([[50, 50]]);
    controller.cancel();
    expect(controller.hasSegment).toBe(false);
  });

  it("sends nothing for a zero length and keeps the segment", async () => {
    let requests = 0;
    setFetch((async () => {
      requests += 1;
      return new Response("{}", { status: 201 });
    }) as unknown as typeof fetch);
    const { store, controller } = setup();
    controller.click([10, 10]);
    controller.click([10, 710]);
    expect(await controller.submit("ruler", "0")).toBe(false);
    expect(requests).toBe(0);
    expect(store.calibration.error).toBe("The known length must be greater than 0 mm.");
    expect(store.calibration.points).toHaveLength(2);
  });

  it("shows the server's message and keeps the segment when it refuses", async () => {
    let sent: Record<string, unknown> = {};
    setFetch((async (_url: string, init: RequestInit) => {
      sent = JSON.parse(String(init.body));
      return new Response(JSON.stringify({ message: "Point (600, 10) lies outside the 512x1024 image.", extra: { code: "point_outside_image" } }),
        { status: 400, headers: { "Content-Type": "application/json" } });
    }) as unknown as typeof fetch);
    const { store, controller } = setup();
    controller.click([10, 10]);
    controller.click([10, 710]);
    expect(await controller.submit("calibration_object", "100")).toBe(false);
    expect(sent).toEqual({ method: "calibration_object", points: [[10, 10], [10, 710]], length_mm: 100 });
    expect(store.calibration.error).toBe("Point (600, 10) lies outside the 512x1024 image.");
    expect(store.calibration.points).toHaveLength(2);
    expect(store.calibration.busy).toBe(false);
  });
});
