import { describe, expect, it } from "vitest";
import { addPolygon, deleteShape, deleteShapeVertex, describeShape, hitTest, insertShapeVertex, moveShapeVertex, replaceBone, setJoint, translateShape } from "./edits";
import { emptyDocument, findJoint, makeShape, type Doc } from "./labelme";

function base(): Doc {
  return {
    ...emptyDocument({ width: 200, height: 400 }),
    shapes: [
      makeShape("femur", [[50, 20], [150, 20], [150, 180], [50, 180]], "polygon", 0),
      makeShape("knee", [[100, 200]], "point", 0),
    ],
  };
}

describe("document edits", () => {
  it("places one joint per label and leg (a second placement moves it)", () => {
    let doc = base();
    const first = setJoint(doc, "hip", 0, [100, 30]);
    doc = first.doc;
    const again = setJoint(doc, "hip", 0, [101, 31]);
    expect(again.uid).toBe(first.uid);
    expect(again.doc.shapes.filter((s) => s.label === "hip")).toHaveLength(1);
    expect(findJoint(again.doc, "hip", 0)?.points[0]).toEqual([101, 31]);
    const otherLeg = setJoint(again.doc, "hip", 1, [10, 10]);
    expect(otherLeg.doc.shapes.filter((s) => s.label === "hip")).toHaveLength(2);
    expect(doc.shapes).toHaveLength(3); // earlier documents are untouched
  });

  it("adds polygons (3+ vertices) and replaces a leg's bone on SAM accept", () => {
    const doc = base();
    expect(() => addPolygon(doc, "tibia", 0, [[0, 0], [1, 1]])).toThrow(RangeError);
    const added = addPolygon(doc, "tibia", 0, [[60, 210], [140, 210], [120, 380]]);
    expect(added.doc.shapes.at(-1)?.label).toBe("tibia");
    const replaced = replaceBone(added.doc, "femur", 0, [[0, 0], [10, 0], [10, 10]]);
    expect(replaced.replaced).toBe(true);
    expect(replaced.doc.shapes.filter((s) => s.label === "femur")).toHaveLength(1);
    expect(replaced.doc.shapes[0].points).toHaveLength(3);
    const newLeg = replaceBone(added.doc, "femur", 1, [[0, 0], [10, 0], [10, 10]]);
    expect(newLeg.replaced).toBe(false);
    expect(newLeg.doc.shapes.at(-1)?.group_id).toBe(1);
  });

  it("moves, inserts and deletes vertices, drags and deletes shapes", () => {
    const doc = base();
    const femur = doc.shapes[0].uid;
    expect(moveShapeVertex(doc, femur, 0, [40, 10]).shapes[0].points[0]).toEqual([40, 10]);
    const inserted = insertShapeVertex(doc, femur, 0, [100, 20]);
    expect(inserted.shapes[0].points).toHaveLength(5);
    const deleted = deleteShapeVertex(inserted, femur, 1);
    expect(deleted?.shapes[0].points).toEqual(doc.shapes[0].points);
    const triangle = deleteShapeVertex(doc, femur, 0)!;
    expect(deleteShapeVertex(triangle, femur, 0)).toBeNull();
    expect(translateShape(doc, femur, 5, 5).shapes[0].points[0]).toEqual([55, 25]);
    expect(deleteShape(doc, femur).shapes.map((s) => s.label)).toEqual(["knee"]);
  });

  it("hit-tests joints first, then vertices, edges and interiors", () => {
    const doc = base();
    const [femur, knee] = doc.shapes;
    expect(hitTest(doc, [102, 201], 4)).toMatchObject({ uid: knee.uid, kind: "point" });
    expect(hitTest(doc, [51, 21], 4)).toMatchObject({ uid: femur.uid, kind: "vertex", index: 0 });
    const edge = hitTest(doc, [100, 22], 4);
    expect(edge).toMatchObject({ uid: femur.uid, kind: "edge", index: 0 });
    expect(edge?.at).toEqual([100, 20]);
    expect(hitTest(doc, [100, 100], 4)).toMatchObject({ uid: femur.uid, kind: "inside" });
    expect(hitTest(doc, [190, 390], 4)).toBeNull();
  });

  it("describes shapes for the list", () => {
    const doc = base();
    expect(describeShape(doc.shapes[0])).toBe("femur · leg 0 · 4 vertices");
    expect(describeShape(doc.shapes[1])).toBe("knee · leg 0");
  });
});
