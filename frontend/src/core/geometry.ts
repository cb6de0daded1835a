/**
 * Plane geometry on image coordinates.
 *
 * Convention (the project's, architecture.md §4): a point is `[x, y]` in image pixels, x to the
 * right, y downward, origin at the top-left corner of the top-left pixel. Polygons are lists of
 * vertices without a repeated closing vertex. Every function here is pure: edits return new arrays.
 */

export type Point = [number, number];

export function distance(a: Point, b: Point): number {
  return Math.hypot(a[0] - b[0], a[1] - b[1]);
}

/**
 * Even–odd (crossing number) test. Points exactly on an edge may fall either way; callers that need
 * edge hits use {@link nearestEdge} with a tolerance.
 */
export function pointInPolygon(p: Point, polygon: readonly Point[]): boolean {
  let inside = false;
  const n = polygon.length;
  for (let i = 0, j = n - 1; i < n; j = i++) {
    const [xi, yi] = polygon[i];
    const [xj, yj] = polygon[j];
    if (yi > p[1] !== yj > p[1]) {
      const xCross = ((xj - xi) * (p[1] - yi)) / (yj - yi) + xi;
      if (p[0] < xCross) inside = !inside;
    }
  }
  return inside;
}

/** Closest point to `p` on the segment `a`–`b` and its parameter `t` in [0, 1]. */
export function projectOnSegment(p: Point, a: Point, b: Point): { point: Point; t: number; distance: number } {
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  const len2 = dx * dx + dy * dy;
  let t = len2 === 0 ? 0 : ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2;
  t = Math.max(0, Math.min(1, t));
  const point: Point = [a[0] + t * dx, a[1] + t * dy];
  return { point, t, distance: distance(p, point) };
}

/** Index of the vertex nearest to `p` within `maxDistance` (image px), or -1. */
export function nearestVertex(p: Point, points: readonly Point[], maxDistance = Infinity): number {
  let best = -1;
  let bestDistance = maxDistance;
  points.forEach((q, i) => {
    const d = distance(p, q);
    if (d <= bestDistance) {
      best = i;
      bestDistance = d;
    }
  });
  return best;
}

export interface EdgeHit {
  /** The edge runs from vertex `index` to vertex `(index + 1) % n`. */
  index: number;
  point: Point;
  distance: number;
}

/** The edge of a closed polygon (or open polyline) nearest to `p` within `maxDistance`, or null. */
export function nearestEdge(p: Point, points: readonly Point[], maxDistance = Infinity, closed = true): EdgeHit | null {
  const n = points.length;
  if (n < 2) return null;
  let best: EdgeHit | null = null;
  const edges = closed ? n : n - 1;
  for (let i = 0; i < edges; i++) {
    const hit = projectOnSegment(p, points[i], points[(i + 1) % n]);
    if (hit.distance <= maxDistance && (best === null || hit.distance < best.distance)) {
      best = { index: i, point: hit.point, distance: hit.distance };
    }
  }
  return best;
}

/** A new polygon with `point` inserted after vertex `edgeIndex` (i.e. on edge edgeIndex → edgeIndex+1). */
export function insertVertex(points: readonly Point[], edgeIndex: number, point: Point): Point[] {
  if (edgeIndex < 0 || edgeIndex >= points.length) throw new RangeError(`no edge ${edgeIndex}`);
  const out = points.map((q) => [q[0], q[1]] as Point);
  out.splice(edgeIndex + 1, 0, [point[0], point[1]]);
  return out;
}

/**
 * A new polygon without vertex `index`. A polygon keeps at least `minVertices` (3) vertices: below
 * that the deletion is refused and `null` is returned (the caller deletes the whole shape instead).
 */
export function deleteVertex(points: readonly Point[], index: number, minVertices = 3): Point[] | null {
  if (index < 0 || index >= points.length) throw new RangeError(`no vertex ${index}`);
  if (points.length - 1 < minVertices) return null;
  return points.filter((_, i) => i !== index).map((q) => [q[0], q[1]] as Point);
}

export function moveVertex(points: readonly Point[], index: number, to: Point): Point[] {
  return points.map((q, i) => (i === index ? ([to[0], to[1]] as Point) : ([q[0], q[1]] as Point)));
}

/** Every vertex moved by `(dx, dy)`: dragging a whole shape. */
export function translate(points: readonly Point[], dx: number, dy: number): Point[] {
  return points.map((q) => [q[0] + dx, q[1] + dy] as Point);
}

export function clampPoint(p: Point, width: number, height: number): Point {
  return [Math.max(0, Math.min(width, p[0])), Math.max(0, Math.min(height, p[1]))];
}

/** Shoelace area (absolute), in px². */
export function polygonArea(points: readonly Point[]): number {
  let twice = 0;
  for (let i = 0, j = points.length - 1; i < points.length; j = i++) {
    twice += points[j][0] * points[i][1] - points[i][0] * points[j][1];
  }
  return Math.abs(twice) / 2;
}

export function boundingBox(points: readonly Point[]): { x0: number; y0: number; x1: number; y1: number } {
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (const [x, y] of points) {
    x0 = Math.min(x0, x);
    y0 = Math.min(y0, y);
    x1 = Math.max(x1, x);
    y1 = Math.max(y1, y);
  }
  return { x0, y0, x1, y1 };
}
