import { describe, expect, it } from "vitest";
import type { Point } from "./geometry";
import { buildDocument, emptyDocument, makeShape, type Doc, type Shape } from "./labelme";
import { mergeOnTop, sameContent } from "./merge";

const size = { width: 100, height: 300 };
function doc(...shapes: Shape[]): Doc {
  return { ...emptyDocument(size), shapes };
}
const poly = (label: string, leg: number, dx = 0): Shape =>
  makeShape(label, [[10 + dx, 10], [40 + dx, 10], [40 + dx, 90]] as Point[], "polygon", leg);
const point = (label: string, leg: number, x: number, y: number): Shape => makeShape(label, [[x, y]], "point", leg);

const labels = (d: Doc) => buildDocument(d).shapes as { label: string; points: number[][]; group_id: number }[];

describe("mergeOnTop (keep mine on top of theirs, after a 409)", () => {
  it("keeps my changes and takes their changes to shapes I did not touch", () => {
    const base = doc(poly("femur", 0), point("knee", 0, 50, 150), point("hip", 0, 30, 20));
    const mine = doc(poly("femur", 0, 5), point("knee", 0, 50, 150), point("hip", 0, 30, 20)); // I moved the femur
    const theirs = doc(poly("femur", 0), point("knee", 0, 55, 160), point("hip", 0, 30, 20)); // they moved the knee
    const result = mergeOnTop(base, mine, theirs);
    const out = labels(result.document);
    expect(out.find((s) => s.label === "femur")!.points[0]).toEqual([15, 10]);
    expect(out.find((s) => s.label === "knee")!.points[0]).toEqual([55, 160]);
    expect(result.conflicts).toEqual([]);
    expect(result.takenFromTheirs).toEqual(["knee|leg 0|point"]);
  });

  it("mine wins where both changed the same shape, and says so", () => {
    const base = doc(point("knee", 0, 50, 150));
    const mine = doc(point("knee", 0, 52, 150));
    const theirs = doc(point("knee", 0, 48, 151));
    const result = mergeOnTop(base, mine, theirs);
    expect(labels(result.document)[0].points[0]).toEqual([52, 150]);
    expect(result.conflicts).toEqual(["knee|leg 0|point"]);
  });

  it("never drops what I added, and keeps what they added", () => {
    const base = doc(poly("femur", 0));
    const mine = doc(poly("femur", 0), poly("tibia", 0));
    const theirs = doc(poly("femur", 0), point("ankle", 0, 40, 280), poly("femur", 1, 50));
    const out = labels(mergeOnTop(base, mine, theirs).document).map((s) => `${s.label}/${s.group_id}`);
    expect(out.sort()).toEqual(["ankle/0", "femur/0", "femur/1", "tibia/0"]);
  });

  it("honours deletions on both sides", () => {
    const base = doc(poly("femur", 0), poly("tibia", 0), point("hip", 0, 1, 1));
    const mine = doc(poly("femur", 0), point("hip", 0, 1, 1)); // I deleted the tibia
    const theirs = doc(poly("femur", 0), poly("tibia", 0)); // they deleted the hip
    const out = labels(mergeOnTop(base, mine, theirs).document).map((s) => s.label);
    expect(out).toEqual(["femur"]);
  });

  it("with no base (first revision raced) every shape of mine is kept over theirs", () => {
    const mine = doc(poly("femur", 0, 3));
    const theirs = doc(poly("femur", 0), point("knee", 0, 5, 5));
    const result = mergeOnTop(null, mine, theirs);
    const out = labels(result.document);
    expect(out.find((s) => s.label === "femur")!.points[0]).toEqual([13, 10]);
    expect(out.map((s) => s.label).sort()).toEqual(["femur", "knee"]);
    expect(result.conflicts).toEqual(["femur|leg 0|polygon"]);
  });

  it("repeated keys are matched by occurrence", () => {
    const base = doc(makeShape("note", [[1, 1]], "point", null), makeShape("note", [[2, 2]], "point", null));
    const mine = doc(makeShape("note", [[1, 1]], "point", null), makeShape("note", [[3, 3]], "point", null));
    const theirs = doc(makeShape("note", [[9, 9]], "point", null), makeShape("note", [[2, 2]], "point", null));
    const out = labels(mergeOnTop(base, mine, theirs).document).map((s) => s.points[0]);
    expect(out).toEqual([[9, 9], [3, 3]]);
  });

  it("sameContent compares shapes, not uids", () => {
    expect(sameContent(doc(poly("femur", 0)), doc(poly("femur", 0)))).toBe(true);
    expect(sameContent(doc(poly("femur", 0)), doc(poly("femur", 1)))).toBe(false);
  });
});
