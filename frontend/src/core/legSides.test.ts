import { describe, expect, it } from "vitest";
import type { AlignmentJson } from "../api/types";
import { emptyDocument, makeShape } from "./labelme";
import { groupSide, groupTitle } from "./legSides";

const doc = (shapes: ReturnType<typeof makeShape>[]) => ({ ...emptyDocument({ width: 1000, height: 2000 }), shapes });

describe("leg groups are named by the patient's side", () => {
  it("defaults to group 0 = right (image left) on an empty document", () => {
    expect(groupSide(doc([]), 0)).toBe("right");
    expect(groupSide(doc([]), 1)).toBe("left");
    expect(groupTitle(doc([]), 0).text).toBe("Right leg");
    expect(groupTitle(doc([]), 0).hint).toBe("Right leg (image left), LabelMe group_id 0");
  });

  it("follows where the group's shapes lie, and the other group", () => {
    const d = doc([makeShape("hip", [[800, 100]], "point", 0)]);
    expect(groupSide(d, 0)).toBe("left"); // on the image right
    expect(groupSide(d, 1)).toBe("right");
  });

  it("uses the alignment's anatomical side when it measured the group", () => {
    const d = doc([makeShape("hip", [[200, 100]], "point", 0)]);
    const alignment = { width: 1000, height: 2000, pixel_spacing_mm: null, legs: [
      { image_side: "left", anatomical_side: "left", joints: { hip: [200, 100] }, metrics: {}, flags: [] },
    ] } as AlignmentJson;
    expect(groupSide(d, 0, alignment)).toBe("left"); // e.g. a single leg the server inferred as the left one
  });
});
