import { describe, expect, it } from "vitest";
import {
  boundingBox,
  deleteVertex,
  insertVertex,
  moveVertex,
  nearestEdge,
  nearestVertex,
  pointInPolygon,
  polygonArea,
  projectOnSegment,
  translate,
  type Point,
} from "./geometry";

const square: Point[] = [[0, 0], [10, 0], [10, 10], [0, 10]];

describe("pointInPolygon", () => {
  it("finds inside and outside points of a square", () => {
    expect(pointInPolygon([5, 5], square)).toBe(true);
    expect(pointInPolygon([15, 5], square)).toBe(false);
    expect(pointInPolygon([-0.1, 5], square)).toBe(false);
    expect(pointInPolygon([5, 10.1], square)).toBe(false);
  });

  it("handles a concave polygon (the notch is outside)", () => {
    const u: Point[] = [[0, 0], [3, 0], [3, 8], [7, 8], [7, 0], [10, 0], [10, 10], [0, 10]];
    expect(pointInPolygon([5, 4], u)).toBe(false);
    expect(pointInPolygon([1, 4], u)).toBe(true);
    expect(pointInPolygon([5, 9], u)).toBe(true);
  });

  it("does not depend on the winding direction", () => {
    expect(pointInPolygon([5, 5], [...square].reverse())).toBe(true);
  });
});

describe("nearest vertex and edge", () => {
  it("returns the nearest vertex within the tolerance, else -1", () => {
    expect(nearestVertex([9, 1], square)).toBe(1);
    expect(nearestVertex([9, 1], square, 1)).toBe(-1);
    expect(nearestVertex([9.5, 0.5], square, 1)).toBe(1);
  });

  it("projects onto the closest edge, including the closing edge", () => {
    const hit = nearestEdge([5, -2], square, 3);
    expect(hit?.index).toBe(0);
    expect(hit?.point).toEqual([5, 0]);
    expect(hit?.distance).toBeCloseTo(2);
    const closing = nearestEdge([-1, 5], square, 3);
    expect(closing?.index).toBe(3); // edge from vertex 3 back to vertex 0
    expect(closing?.point).toEqual([0, 5]);
    expect(nearestEdge([5, 5], square, 1)).toBeNull();
  });

  it("clamps projections to the segment ends", () => {
    expect(projectOnSegment([-5, 3], [0, 0], [10, 0]).point).toEqual([0, 0]);
    expect(projectOnSegment([15, 3], [0, 0], [10, 0]).t).toBe(1);
    expect(projectOnSegment([2, 2], [1, 1], [1, 1]).point).toEqual([1, 1]);
  });

  it("an open polyline has no closing edge", () => {
    expect(nearestEdge([-1, 5], square, 3, false)).toBeNull();
  });
});

describe("vertex edits", () => {
  it("inserts after the edge's first vertex", () => {
    const out = insertVertex(square, 0, [5, 0]);
    expect(out).toEqual([[0, 0], [5, 0], [10, 0], [10, 10], [0, 10]]);
    expect(square).toHaveLength(4); // the input is not changed
    expect(insertVertex(square, 3, [0, 5]).at(-1)).toEqual([0, 5]);
    expect(() => insertVertex(square, 4, [0, 0])).toThrow(RangeError);
  });

  it("deletes a vertex but keeps at least three", () => {
    expect(deleteVertex(square, 1)).toEqual([[0, 0], [10, 10], [0, 10]]);
    expect(deleteVertex([[0, 0], [1, 0], [1, 1]], 0)).toBeNull();
    expect(() => deleteVertex(square, 9)).toThrow(RangeError);
  });

  it("moves one vertex and drags a whole shape", () => {
    expect(moveVertex(square, 2, [12, 11])[2]).toEqual([12, 11]);
    const moved = translate(square, 3, -2);
    expect(moved).toEqual([[3, -2], [13, -2], [13, 8], [3, 8]]);
    expect(polygonArea(moved)).toBe(polygonArea(square));
    expect(boundingBox(moved)).toEqual({ x0: 3, y0: -2, x1: 13, y1: 8 });
  });
});
