// POST /api/align/ is mocked here; the browser tests call the real one.
import { afterEach, describe, expect, it } from "vitest";
import { setFetch } from "../api/http";
import { setJoint } from "../core/edits";
import { cloneDocument, emptyDocument, makeShape } from "../core/labelme";
import { AnglesController } from "./angles";
import { EditorStore } from "./store";

afterEach(() => setFetch((...args) => fetch(...args)));

function json(body: unknown, status = 200) {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

function storeWithJoints() {
  const doc = {
    ...emptyDocument({ width: 100, height: 300 }),
    shapes: [makeShape("hip", [[50, 10]], "point", 0), makeShape("knee", [[52, 150]], "point", 0), makeShape("ankle", [[51, 290]], "point", 0)],
  };
  return new EditorStore(100, 300, doc);
}

/** A mocked /api/align/ answering no legs, counting its calls. */
function countingAlign() {
  const server = { calls: 0 };
  setFetch((async () => {
    server.calls += 1;
    return json({ width: 100, height: 300, pixel_spacing_mm: null, legs: [] });
  }) as unknown as typeof fetch);
  return server;
}

describe("live angles (mocked /api/align/)", () => {
  it("posts the LabelMe document with the image size and stores the alignment", async () => {
    let sent: Record<string, unknown> = {};
    setFetch((async (_url: string, init: RequestInit) => {
      sent = JSON.parse(String(init.body));
      return json({ width: 100, height: 300, pixel_spacing_mm: null, legs: [{ image_side: "left", anatomical_side: null, joints: {}, metrics: { hka_deviation_deg: { value: -1.2, sd: 0 } }, flags: [] }] });
    }) as unknown as typeof fetch);
    const store = storeWithJoints();
    const angles = new AnglesController(store);
    await angles.compute();
    expect(sent.width).toBe(100);
    expect(sent.height).toBe(300);
    expect((sent.document as { shapes: unknown[] }).shapes).toHaveLength(3);
    expect(store.alignment?.legs[0].metrics.hka_deviation_deg?.value).toBe(-1.2);
    expect(store.alignmentError).toBeNull();
  });

  it("shows the server's reason when the document cannot be aligned", async () => {
    setFetch((async () => json({ message: "No alignment for this document: no leg has hip, knee and ankle", extra: { code: "alignment_failed" } }, 400)) as unknown as typeof fetch);
    const store = storeWithJoints();
    await new AnglesController(store).compute();
    expect(store.alignment).toBeNull();
    expect(store.alignmentError).toContain("no leg has hip, knee and ankle");
  });

  it("shows a known alignment (review: the prediction's, with its spread) while the document is unchanged", async () => {
    const server = countingAlign();
    const store = storeWithJoints();
    const angles = new AnglesController(store);
    const stored = { width: 100, height: 300, pixel_spacing_mm: null, legs: [{ image_side: "left", anatomical_side: null, joints: {}, metrics: { hka_deviation_deg: { value: -3, sd: 1.4 } }, flags: [] }] };
    angles.reference = { doc: cloneDocument(store.doc), alignment: stored };
    await angles.compute();
    expect(server.calls).toBe(0);
    expect(store.alignment).toBe(stored);
    store.commit(setJoint(store.doc, "knee", 0, [60, 150]).doc);
    angles.schedule.cancel();
    await angles.compute();
    expect(server.calls).toBe(1);
  });

  it("does not call the server without joint points", async () => {
    let called = false;
    setFetch((async () => {
      called = true;
      return json({});
    }) as unknown as typeof fetch);
    const store = new EditorStore(10, 10, emptyDocument({ width: 10, height: 10 }));
    await new AnglesController(store).compute();
    expect(called).toBe(false);
    expect(store.alignmentError).toMatch(/Place hip, knee and ankle/);
  });

  it("shows the model's prediction while the working copy has no joints (a fresh upload), then the drawing's", async () => {
    const server = countingAlign();
    const store = new EditorStore(100, 300, emptyDocument({ width: 100, height: 300 }));
    const angles = new AnglesController(store);
    const predicted = { width: 100, height: 300, pixel_spacing_mm: null, legs: [{ image_side: "left", anatomical_side: "right", joints: {}, metrics: { hka_deviation_deg: { value: -4, sd: 0.5 } }, flags: [] }] };
    angles.modelAlignment = predicted;
    await angles.compute(true);
    expect(server.calls).toBe(0);
    expect(store.alignment).toBe(predicted);
    expect(store.alignmentFromModel).toBe(true);
    expect(store.alignmentError).toBeNull();
    store.commit(storeWithJoints().doc);
    angles.schedule.cancel();
    angles.settle.cancel();
    await angles.compute(true);
    expect(server.calls).toBe(1);
    expect(store.alignmentFromModel).toBe(false);
  });

  it("schedules a computation (debounced) after each edit", () => {
    const store = storeWithJoints();
    const angles = new AnglesController(store);
    store.commit({ ...store.doc });
    expect(angles.schedule.pending).toBe(true);
    expect(angles.settle.pending).toBe(true);
    angles.schedule.cancel();
    angles.settle.cancel();
  });

  it("estimates fast while drawing, then computes as the report does once the drawing rests", async () => {
    const sent: Record<string, unknown>[] = [];
    setFetch((async (_url: string, init: RequestInit) => {
      sent.push(JSON.parse(String(init.body)));
      return json({ width: 100, height: 300, pixel_spacing_mm: null, legs: [{ image_side: "left", anatomical_side: null, joints: {}, metrics: {}, flags: [] }] });
    }) as unknown as typeof fetch);
    const store = storeWithJoints();
    const angles = new AnglesController(store, () => 7);
    await angles.compute();
    expect(sent[0].mc_samples).toBe(200);
    expect(sent[0].image).toBe(7);
    expect(store.alignmentProvisional).toBe(true);
    await angles.compute(true);
    expect("mc_samples" in sent[1]).toBe(false); // the server's default: the report's computation
    expect(store.alignmentProvisional).toBe(false);
  });
});
