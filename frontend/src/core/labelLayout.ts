/**
 * Screen-space label placement without collisions (issue 16, item 10: the editor's metric, CORA
 * and joint labels overlapped at the knee).
 *
 * Boxes are screen rectangles; `fixed` ones (joint tags) stay where they are. The others are taken
 * in order of their wanted position (top to bottom) and each is moved down just below whatever it
 * would overlap, so labels keep their order and stay next to their anchor.
 */

export interface LabelBox {
  x: number;
  y: number;
  width: number;
  height: number;
  fixed?: boolean;
}

function overlaps(a: LabelBox, b: LabelBox, gap: number): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height + gap && b.y < a.y + a.height + gap;
}

/** The y of every box after moving the movable ones down until no two overlap (`gap` px apart). */
export function declutter(boxes: readonly LabelBox[], gap = 1): number[] {
  const out = boxes.map((b) => b.y);
  const placed: LabelBox[] = boxes.filter((b) => b.fixed).map((b) => ({ ...b }));
  const order = boxes.map((_, i) => i).filter((i) => !boxes[i].fixed).sort((i, j) => boxes[i].y - boxes[j].y || i - j);
  for (const i of order) {
    const box = { ...boxes[i] };
    for (let guard = 0; guard < boxes.length + 1; guard++) {
      const hit = placed.filter((p) => overlaps(box, p, gap));
      if (!hit.length) break;
      box.y = Math.max(...hit.map((p) => p.y + p.height)) + gap;
    }
    placed.push(box);
    out[i] = box.y;
  }
  return out;
}

/** Whether any two boxes overlap (for tests). */
export function anyOverlap(boxes: readonly LabelBox[]): boolean {
  return boxes.some((a, i) => boxes.slice(i + 1).some((b) => overlaps(a, b, 0)));
}
