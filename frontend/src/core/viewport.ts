/**
 * The mapping between image pixels and screen (CSS) pixels of the editor canvas:
 *
 *     screen = image * scale + (tx, ty)        image = (screen - (tx, ty)) / scale
 *
 * Image coordinates follow the project convention (x right, y down, origin at the image's top-left
 * corner); screen coordinates are relative to the top-left corner of the canvas element.
 */

import type { Point } from "./geometry";

export interface View {
  scale: number;
  tx: number;
  ty: number;
}

export const MIN_SCALE = 0.01;
export const MAX_SCALE = 40;

export function imageToScreen(view: View, p: Point): Point {
  return [p[0] * view.scale + view.tx, p[1] * view.scale + view.ty];
}

export function screenToImage(view: View, p: Point): Point {
  return [(p[0] - view.tx) / view.scale, (p[1] - view.ty) / view.scale];
}

export function clampScale(scale: number, min = MIN_SCALE, max = MAX_SCALE): number {
  return Math.max(min, Math.min(max, scale));
}

/**
 * Zoom by `factor` around the screen point `anchor`: the image point under `anchor` stays under it.
 * The scale is clamped to [MIN_SCALE, MAX_SCALE]; the anchor is kept fixed for the clamped scale.
 */
export function zoomAt(view: View, anchor: Point, factor: number): View {
  const scale = clampScale(view.scale * factor);
  const under = screenToImage(view, anchor);
  return { scale, tx: anchor[0] - under[0] * scale, ty: anchor[1] - under[1] * scale };
}

export function pan(view: View, dx: number, dy: number): View {
  return { scale: view.scale, tx: view.tx + dx, ty: view.ty + dy };
}

/** The view that shows the whole image centred in a `viewWidth` × `viewHeight` area with a margin. */
export function fitView(imageWidth: number, imageHeight: number, viewWidth: number, viewHeight: number, margin = 16): View {
  const availableW = Math.max(1, viewWidth - 2 * margin);
  const availableH = Math.max(1, viewHeight - 2 * margin);
  const scale = clampScale(Math.min(availableW / imageWidth, availableH / imageHeight));
  return { scale, tx: (viewWidth - imageWidth * scale) / 2, ty: (viewHeight - imageHeight * scale) / 2 };
}

/** Wheel delta (pixels or lines) → zoom factor; one notch of a mouse wheel is about ×1.2. */
export function wheelZoomFactor(deltaY: number, deltaMode = 0): number {
  const pixels = deltaMode === 1 ? deltaY * 33 : deltaMode === 2 ? deltaY * 400 : deltaY;
  return Math.exp(-pixels * 0.0018);
}
