// The SAM endpoints are mocked here only (their contract: issue #5); the browser tests use the real worker.
import { afterEach, describe, expect, it, vi } from "vitest";
import { setFetch } from "../api/http";
import { emptyDocument, findBone, makeShape } from "../core/labelme";
import { SamController } from "./sam";
import { EditorStore } from "./store";

function store() {
  const doc = { ...emptyDocument({ width: 200, height: 400 }), shapes: [makeShape("femur", [[0, 0], [5, 0], [5, 5]], "polygon", 0)] };
  return new EditorStore(200, 400, doc);
}

function json(body: unknown, status = 200) {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

afterEach(() => setFetch((...args) => fetch(...args)));

describe("SAM assist controller (mocked API)", () => {
  it("sends the prompts and shows the returned polygon as a draft; Enter accepts it as the chosen bone", async () => {
    const calls: { url: string; body: unknown }[] = [];
    setFetch((async (url: string, init: RequestInit) => {
      calls.push({ url, body: JSON.parse(String(init.body)) });
      return json({ polygons: [[[10, 10], [60, 10], [60, 150]], [[1, 1], [2, 1], [2, 2]]], score: 0.93, embedding_cached: true,
        timings: { embed_s: 0.01, decode_s: 0.1, total_s: 0.12 } });
    }) as unknown as typeof fetch);
    const s = store();
    const sam = new SamController(s, () => 5);
    s.sam.points = [[30, 40]];
    s.sam.labels = [1];
    s.sam.box = [5, 5, 80, 200];
    s.sam.tolerance = 1.5;
    await sam.run();
    expect(calls[0].url).toBe("/api/images/5/sam/");
    expect(calls[0].body).toEqual({ points: [[30, 40]], labels: [1], box: [5, 5, 80, 200], tolerance_px: 1.5, label: "femur" });
    expect(s.sam.polygons).toHaveLength(2);
    expect(s.sam.info).toContain("score 0.93");
    expect(s.sam.info).toContain("120 ms");
    // accept: the larger polygon replaces leg 0's femur, as one undo step
    s.setLabel({ bone: "femur", leg: 0 });
    expect(sam.accept()).toBe(true);
    expect(findBone(s.doc, "femur", 0)?.points).toEqual([[10, 10], [60, 10], [60, 150]]);
    expect(s.samAssisted).toBe(true);
    expect(s.sam.points).toEqual([]);
    expect(s.undo()).toBe(true);
    expect(findBone(s.doc, "femur", 0)?.points).toHaveLength(3);
  });

  it("leaves out the box, the model and an empty point list", async () => {
    const bodies: Record<string, unknown>[] = [];
    setFetch((async (_url: string, init: RequestInit) => {
      bodies.push(JSON.parse(String(init.body)));
      return json({ polygons: [], score: 0.1 });
    }) as unknown as typeof fetch);
    const s = store();
    const sam = new SamController(s, () => 5);
    s.sam.points = [[3, 4]];
    s.sam.labels = [0];
    await sam.run();
    expect(Object.keys(bodies[0]).sort()).toEqual(["label", "labels", "points", "tolerance_px"]);
    expect(s.sam.error).toMatch(/no outline/);
    s.sam.points = [];
    s.sam.labels = [];
    s.sam.box = [1, 2, 30, 40];
    await sam.run();
    expect(bodies[1]).toEqual({ box: [1, 2, 30, 40], tolerance_px: 2, label: "femur" });
  });

  it("shows a 503's message plainly and accepts nothing", async () => {
    setFetch((async () => json({ message: "No SAM worker is running (queue sam).", extra: { code: "sam_unavailable" } }, 503)) as unknown as typeof fetch);
    const s = store();
    const sam = new SamController(s, () => 5);
    s.sam.points = [[1, 1]];
    s.sam.labels = [1];
    await sam.run();
    expect(s.sam.error).toBe("No SAM worker is running (queue sam).");
    expect(sam.accept()).toBe(false);
  });

  it("lists models and reports an unavailable default with its own message", async () => {
    setFetch((async () => json({ default: "vit_b", models: [{ name: "vit_b", available: false, message: "Checkpoint not configured (SAM_VIT_B_CHECKPOINT)." }, { name: "litemedsam", available: true }] })) as unknown as typeof fetch);
    const s = store();
    const sam = new SamController(s, () => 5);
    await sam.loadModels();
    expect(s.sam.model).toBe("vit_b");
    expect(sam.unavailable).toBe("Checkpoint not configured (SAM_VIT_B_CHECKPOINT).");
    sam.setModel("litemedsam");
    expect(sam.unavailable).toBeNull();
  });

  it("says so when the server has no SAM endpoint", async () => {
    setFetch((async () => json({ message: "Not found.", extra: {} }, 404)) as unknown as typeof fetch);
    const sam = new SamController(store(), () => 5);
    await sam.loadModels();
    expect(sam.unavailable).toBe("SAM assist is not installed on this server.");
  });

  it("keeps only the newest answer when prompts change quickly", async () => {
    const resolvers: ((r: Response) => void)[] = [];
    setFetch((() => new Promise<Response>((r) => resolvers.push(r))) as unknown as typeof fetch);
    const s = store();
    const sam = new SamController(s, () => 5);
    s.sam.points = [[1, 1]];
    s.sam.labels = [1];
    const first = sam.run();
    s.sam.points = [[1, 1], [9, 9]];
    s.sam.labels = [1, 0];
    const second = sam.run();
    resolvers[1](json({ polygons: [[[0, 0], [9, 0], [9, 9]]], score: 0.5 }));
    await second;
    resolvers[0](json({ polygons: [[[0, 0], [1, 0], [1, 1]]], score: 0.1 }));
    await first;
    expect(s.sam.score).toBe(0.5);
    vi.restoreAllMocks();
  });
});
