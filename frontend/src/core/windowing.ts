/**
 * Window/level and invert on the 8-bit display image (the server already maps the original —
 * 16-bit, DICOM, MONOCHROME1 — to a bone-bright 8-bit PNG; this stretches that for the eye).
 *
 *     out = clamp((v - (level - window / 2)) / window, 0, 1) * 255,   inverted: 255 - out
 *
 * `window = 255, level = 128` is the identity.
 */

export interface Windowing {
  window: number;
  level: number;
  invert: boolean;
}

export const DEFAULT_WINDOWING: Readonly<Windowing> = { window: 255, level: 128, invert: false };
export const WINDOW_RANGE: readonly [number, number] = [1, 512];
export const LEVEL_RANGE: readonly [number, number] = [-64, 320];

export function isIdentity(w: Windowing): boolean {
  return w.window === DEFAULT_WINDOWING.window && w.level === DEFAULT_WINDOWING.level && !w.invert;
}

/** The 256-entry lookup table of `w`. */
export function windowLut(w: Windowing): Uint8ClampedArray {
  const lut = new Uint8ClampedArray(256);
  const width = Math.max(1, w.window);
  const low = w.level - width / 2;
  for (let v = 0; v < 256; v++) {
    let out = Math.round(((v - low) / width) * 255);
    out = Math.max(0, Math.min(255, out));
    lut[v] = w.invert ? 255 - out : out;
  }
  return lut;
}

/** Apply `lut` to the RGB channels of RGBA pixels `src` into `dst` (alpha copied). */
export function applyLut(src: Uint8ClampedArray, dst: Uint8ClampedArray, lut: Uint8ClampedArray): void {
  for (let i = 0; i < src.length; i += 4) {
    dst[i] = lut[src[i]];
    dst[i + 1] = lut[src[i + 1]];
    dst[i + 2] = lut[src[i + 2]];
    dst[i + 3] = src[i + 3];
  }
}

/**
 * Right-drag windowing (the radiology convention): dragging right widens the window (less contrast),
 * dragging down raises the level (darker). `dx`, `dy` in screen pixels from the drag start.
 */
export function dragWindowing(start: Windowing, dx: number, dy: number): Windowing {
  const window = Math.round(Math.max(WINDOW_RANGE[0], Math.min(WINDOW_RANGE[1], start.window * Math.exp(dx / 200))));
  const level = Math.round(Math.max(LEVEL_RANGE[0], Math.min(LEVEL_RANGE[1], start.level + dy / 2)));
  return { window, level, invert: start.invert };
}
