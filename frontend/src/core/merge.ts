/**
 * "Keep mine on top of theirs" after a 409 (someone saved a newer revision while this user edited).
 *
 * A three-way merge at shape level between
 *   base   – the revision this edit started from,
 *   mine   – the working document,
 *   theirs – the new head revision.
 * Shapes are matched by a key: canonical label (or the raw label), leg (`group_id`) and shape type,
 * plus an occurrence number for repeated keys. For each key:
 *   - unchanged by me (mine == base)  → theirs (including their deletion or addition);
 *   - changed, added or deleted by me → mine.
 * When both sides changed the same key differently, mine wins and the key is reported in `conflicts`
 * so the UI can say which of their shapes were overwritten. Nothing the user drew is ever dropped.
 */

import { buildDocument, canonicalLabel, cloneShape, shapeSignature, type Doc, type Shape } from "./labelme";

export interface MergeResult {
  document: Doc;
  /** Keys (e.g. "femur|leg 0|polygon") where both sides changed and mine was kept. */
  conflicts: string[];
  /** Keys taken from theirs because I had not touched them. */
  takenFromTheirs: string[];
}

function baseKey(shape: Shape): string {
  const label = canonicalLabel(shape.label) ?? shape.label;
  return `${label}|leg ${shape.group_id ?? 0}|${shape.shape_type}`;
}

/** Keyed shapes in document order; repeats of a key get `#2`, `#3`, ... */
function keyed(doc: Doc | null): Map<string, Shape> {
  const out = new Map<string, Shape>();
  const seen = new Map<string, number>();
  for (const shape of doc?.shapes ?? []) {
    const key = baseKey(shape);
    const n = (seen.get(key) ?? 0) + 1;
    seen.set(key, n);
    out.set(n === 1 ? key : `${key}#${n}`, shape);
  }
  return out;
}

function same(a: Shape | undefined, b: Shape | undefined): boolean {
  if (!a || !b) return a === b;
  return shapeSignature(a) === shapeSignature(b);
}

export function mergeOnTop(base: Doc | null, mine: Doc, theirs: Doc | null): MergeResult {
  const b = keyed(base);
  const m = keyed(mine);
  const t = keyed(theirs);
  const order: string[] = [];
  for (const key of [...t.keys(), ...m.keys(), ...b.keys()]) if (!order.includes(key)) order.push(key);

  const shapes: Shape[] = [];
  const conflicts: string[] = [];
  const takenFromTheirs: string[] = [];
  for (const key of order) {
    const inBase = b.get(key);
    const inMine = m.get(key);
    const inTheirs = t.get(key);
    const iChanged = !same(inBase, inMine);
    const theyChanged = !same(inBase, inTheirs);
    let chosen: Shape | undefined;
    if (iChanged) {
      chosen = inMine;
      if (theyChanged && !same(inMine, inTheirs)) conflicts.push(key);
    } else {
      chosen = inTheirs;
      if (theyChanged) takenFromTheirs.push(key);
    }
    if (chosen) shapes.push(cloneShape(chosen, chosen === inMine));
  }

  const top = theirs ?? mine;
  const document: Doc = {
    ...mine,
    version: top.version,
    flags: { ...(theirs?.flags ?? {}), ...mine.flags },
    extra: { ...(theirs?.extra ?? {}), ...mine.extra },
    shapes,
  };
  return { document, conflicts, takenFromTheirs };
}

/** True when saving `mine` would change nothing compared with `theirs`. */
export function sameContent(a: Doc, b: Doc): boolean {
  return JSON.stringify(buildDocument(a).shapes) === JSON.stringify(buildDocument(b).shapes);
}
