/**
 * The radiograph on a canvas. The display PNG is decoded once into an offscreen bitmap; window/level
 * re-maps that bitmap once per change (a 256-entry table), and pan/zoom only re-draws the bitmap
 * with a new transform, so a 2000 × 6000 film stays fluid.
 */

import { applyLut, isIdentity, windowLut, type Windowing } from "../core/windowing";
import type { View } from "../core/viewport";

export class ImageLayer {
  private source: HTMLCanvasElement | null = null;
  private sourcePixels: ImageData | null = null;
  private processed: HTMLCanvasElement | null = null;
  private frame = 0;
  private width = 0;
  private height = 0;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    /** Size of the image in image pixels (the display PNG may be smaller: it is scaled to this). */
    private readonly imageWidth: number,
    private readonly imageHeight: number,
    private readonly getView: () => View,
  ) {}

  get ready(): boolean {
    return this.processed !== null;
  }

  /** Decode `img` once into the offscreen bitmap. */
  setImage(img: HTMLImageElement): void {
    const source = document.createElement("canvas");
    source.width = img.naturalWidth;
    source.height = img.naturalHeight;
    const ctx = source.getContext("2d", { willReadFrequently: true });
    if (!ctx) throw new Error("no 2D canvas");
    ctx.drawImage(img, 0, 0);
    this.source = source;
    this.sourcePixels = null; // read lazily: only window/level needs the pixels
    this.processed = source;
  }

  /** Re-map the bitmap through the window/level table (identity: the decoded bitmap itself). */
  setWindowing(windowing: Windowing): void {
    if (!this.source) return;
    if (isIdentity(windowing)) {
      this.processed = this.source;
    } else {
      if (!this.sourcePixels) {
        this.sourcePixels = this.source.getContext("2d", { willReadFrequently: true })!.getImageData(0, 0, this.source.width, this.source.height);
      }
      const out = this.processed && this.processed !== this.source ? this.processed : document.createElement("canvas");
      out.width = this.source.width;
      out.height = this.source.height;
      const ctx = out.getContext("2d")!;
      const target = ctx.createImageData(this.source.width, this.source.height);
      applyLut(this.sourcePixels.data, target.data, windowLut(windowing));
      ctx.putImageData(target, 0, 0);
      this.processed = out;
    }
    this.requestDraw();
  }

  /** Match the canvas to its CSS size and the device pixel ratio. */
  resize(cssWidth: number, cssHeight: number): void {
    const dpr = window.devicePixelRatio || 1;
    this.width = cssWidth;
    this.height = cssHeight;
    this.canvas.width = Math.max(1, Math.round(cssWidth * dpr));
    this.canvas.height = Math.max(1, Math.round(cssHeight * dpr));
    this.canvas.style.width = `${cssWidth}px`;
    this.canvas.style.height = `${cssHeight}px`;
    this.requestDraw();
  }

  /** Draw on the next animation frame (many view changes in one frame draw once). */
  requestDraw(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  draw(): void {
    const ctx = this.canvas.getContext("2d");
    if (!ctx) return;
    const dpr = window.devicePixelRatio || 1;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#0b0d12";
    ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    if (!this.processed) return;
    const view = this.getView();
    ctx.setTransform(dpr * view.scale, 0, 0, dpr * view.scale, dpr * view.tx, dpr * view.ty);
    // Smooth when zoomed out; show the real pixels when zoomed in past the display resolution.
    const pixelScale = (view.scale * this.imageWidth) / this.processed.width;
    ctx.imageSmoothingEnabled = pixelScale < 2;
    ctx.imageSmoothingQuality = "medium";
    ctx.drawImage(this.processed, 0, 0, this.imageWidth, this.imageHeight);
  }

  get cssSize(): { width: number; height: number } {
    return { width: this.width, height: this.height };
  }
}
