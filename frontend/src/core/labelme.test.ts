import { describe, expect, it } from "vitest";
import { buildDocument, canonicalLabel, cloneDocument, documentsEqual, emptyDocument, findBone, findJoint, parseDocument } from "./labelme";

const RAW = {
  version: "5.2.1",
  flags: { reviewed: true },
  shapes: [
    { label: "femur", points: [[10, 5], [40, 5], [40, 60], [10, 60]], group_id: 0, description: "", shape_type: "polygon", flags: {} },
    { label: "Femoral_head_center", points: [[25.123, 8.456]], group_id: 0, description: "from import", shape_type: "point", flags: { occluded: false }, other_data: { score: 0.9 } },
    { label: "fibula", points: [[1, 1], [2, 2]], group_id: null, description: "", shape_type: "line", flags: {} },
  ],
  imagePath: "leg.png",
  imageData: "QUJD",
  imageHeight: 128,
  imageWidth: 64,
  otherTopLevel: { kept: [1, 2] },
};

describe("LabelMe parse / build", () => {
  it("round-trips every key, dropping only imageData", () => {
    const doc = parseDocument(RAW, { width: 64, height: 128 });
    const built = buildDocument(doc);
    expect(built.imageData).toBeNull();
    const { imageData: _a, ...expected } = RAW;
    const { imageData: _b, ...actual } = built;
    expect(actual).toEqual({ ...expected, shapes: expected.shapes.map((s) => ({ ...s, points: s.points.map(([x, y]) => [Math.round(x * 100) / 100, Math.round(y * 100) / 100]) })) });
    // parse(build(parse(x))) == parse(x)
    expect(documentsEqual(parseDocument(built, { width: 64, height: 128 }), doc)).toBe(true);
  });

  it("keeps unknown shape keys and top-level keys", () => {
    const built = buildDocument(parseDocument(RAW, { width: 64, height: 128 }));
    expect((built.shapes as Record<string, unknown>[])[1].other_data).toEqual({ score: 0.9 });
    expect(built.otherTopLevel).toEqual({ kept: [1, 2] });
  });

  it("gives an empty document of the image size for a missing one", () => {
    const doc = parseDocument(null, { width: 300, height: 900, imagePath: "x.png" });
    expect(doc.shapes).toEqual([]);
    expect(buildDocument(doc)).toMatchObject({ imageWidth: 300, imageHeight: 900, imagePath: "x.png", imageData: null, version: "5.2.1" });
    expect(emptyDocument({ width: 1, height: 2 }).imageHeight).toBe(2);
  });

  it("rejects shapes without label or points", () => {
    expect(() => parseDocument({ shapes: [{ points: [[1, 2]] }] }, { width: 1, height: 1 })).toThrow();
    expect(() => parseDocument({ shapes: [{ label: "x", points: [] }] }, { width: 1, height: 1 })).toThrow();
    expect(() => parseDocument({ shapes: [{ label: "x", points: [["a", 2]] }] }, { width: 1, height: 1 })).toThrow();
  });

  it("maps synonyms case-insensitively, like the server", () => {
    expect(canonicalLabel("Femoral head-centre")).toBe("hip");
    expect(canonicalLabel("FEMUR")).toBe("femur");
    expect(canonicalLabel("Tibial_plafond_center")).toBe("ankle");
    expect(canonicalLabel("fibula")).toBeNull();
  });

  it("finds joints and bones per leg (group_id null counts as leg 0)", () => {
    const doc = parseDocument(RAW, { width: 64, height: 128 });
    expect(findJoint(doc, "hip", 0)?.label).toBe("Femoral_head_center");
    expect(findJoint(doc, "hip", 1)).toBeUndefined();
    expect(findBone(doc, "femur", 0)?.points).toHaveLength(4);
  });

  it("clones deeply", () => {
    const doc = parseDocument(RAW, { width: 64, height: 128 });
    const copy = cloneDocument(doc);
    copy.shapes[0].points[0][0] = 99;
    expect(doc.shapes[0].points[0][0]).toBe(10);
  });
});
