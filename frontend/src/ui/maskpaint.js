// Masks as pixels: the decoder's low-res logits turned into a coloured overlay fast enough for
// hover, and full-resolution binary masks to and from canvases for the brush and eraser.
import { IMG_SIZE, LOW_RES, resizedSize } from "../decoder/feeds.js";
import { bilinearTaps } from "../decoder/upsample.js";

export function hexToRgba(hex, alpha) {
  const n = Number.parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255, Math.round(alpha * 255)];
}

// Packed RGBA for a Uint32Array view of ImageData (little-endian: ABGR in the integer).
function packed([r, g, b, a]) {
  return ((a << 24) | (b << 16) | (g << 8) | r) >>> 0;
}

// Size the hover overlay is computed at: the image itself when it is no larger than SAM's 1024
// frame, else that frame (the canvas scales it up; the saved mask is always full resolution).
export function overlaySize(origH, origW) {
  const [nh, nw] = resizedSize(origH, origW);
  return origH * origW <= nh * nw ? [origH, origW] : [nh, nw];
}

// Low-res logits (256 * 256) -> ImageData of the overlay size, coloured where logit > 0.
//
// For hover only: SAM's two resizes (256 -> 1024 frame, crop, -> original size) are folded into
// one bilinear resize from the low-res grid (the composition of the two coordinate maps), which
// does a tenth of the work; it can differ from the saved mask by a pixel along the edge, and the
// saved mask is always the exact one (decoder/upsample.js in the worker).
// `stretch` (SAM 2): the low-res grid covers the whole image, squashed to a square with no
// padding, so it is one plain bilinear resize to the overlay (decoder/sam2.js upsampleSam2Logits).
export function logitsToImageData(lowRes, origH, origW, rgba, { stretch = false } = {}) {
  if (lowRes.length !== LOW_RES * LOW_RES) throw new Error("expected 256x256 logits");
  const [newH, newW] = resizedSize(origH, origW);
  const [h, w] = overlaySize(origH, origW);
  const frame = IMG_SIZE / LOW_RES;
  const tx = stretch ? bilinearTaps(LOW_RES, w) : bilinearTaps(LOW_RES, w, w, newW / (frame * w));
  const ty = stretch ? bilinearTaps(LOW_RES, h) : bilinearTaps(LOW_RES, h, h, newH / (frame * h));
  const rowsNeeded = ty.i1[h - 1] + 1;
  const rows = new Float32Array(rowsNeeded * w);
  for (let y = 0; y < rowsNeeded; y++) {
    const r = y * LOW_RES;
    const o = y * w;
    for (let x = 0; x < w; x++) {
      const a = lowRes[r + tx.i0[x]];
      rows[o + x] = a + (lowRes[r + tx.i1[x]] - a) * tx.w1[x];
    }
  }
  const image = new ImageData(w, h);
  const px = new Uint32Array(image.data.buffer);
  const colour = packed(rgba);
  for (let y = 0; y < h; y++) {
    const r0 = ty.i0[y] * w;
    const r1 = ty.i1[y] * w;
    const wy = ty.w1[y];
    const o = y * w;
    for (let x = 0; x < w; x++) {
      const a = rows[r0 + x];
      if (a + (rows[r1 + x] - a) * wy > 0) px[o + x] = colour;
    }
  }
  return image;
}

// Binary mask (Uint8Array h * w) -> ImageData in one colour.
export function maskToImageData(mask, w, h, rgba) {
  const image = new ImageData(w, h);
  const px = new Uint32Array(image.data.buffer);
  const colour = packed(rgba);
  for (let i = 0; i < mask.length; i++) if (mask[i]) px[i] = colour;
  return image;
}

// Polygons with holes -> binary mask, rasterised by the canvas (even-odd, so holes cut out);
// pixels more than half covered count, which is the pixel-corner rule of annotator/geometry.py.
export function polygonsToMask(polygons, w, h) {
  const canvas = new OffscreenCanvas(w, h);
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  for (const p of polygons) {
    const path = new Path2D();
    for (const ring of [p.outer, ...p.holes]) {
      ring.forEach(([x, y], i) => (i ? path.lineTo(x, y) : path.moveTo(x, y)));
      path.closePath();
    }
    ctx.fill(path, "evenodd");
  }
  const data = ctx.getImageData(0, 0, w, h).data;
  const mask = new Uint8Array(w * h);
  for (let i = 0; i < mask.length; i++) mask[i] = data[4 * i + 3] >= 128 ? 1 : 0;
  return mask;
}

// Paints (value 1) or erases (value 0) a disc of `radius` pixels at (cx, cy) into the mask.
export function paintDisc(mask, w, h, cx, cy, radius, value) {
  const r2 = radius * radius;
  const y0 = Math.max(0, Math.floor(cy - radius));
  const y1 = Math.min(h - 1, Math.ceil(cy + radius));
  const x0 = Math.max(0, Math.floor(cx - radius));
  const x1 = Math.min(w - 1, Math.ceil(cx + radius));
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const dx = x + 0.5 - cx;
      const dy = y + 0.5 - cy;
      if (dx * dx + dy * dy <= r2) mask[y * w + x] = value;
    }
  }
}

// A stroke between two points as discs spaced by a third of the radius (no gaps at speed).
export function paintStroke(mask, w, h, from, to, radius, value) {
  const dist = Math.hypot(to[0] - from[0], to[1] - from[1]);
  const steps = Math.max(1, Math.ceil(dist / Math.max(1, radius / 3)));
  for (let i = 0; i <= steps; i++) {
    const t = i / steps;
    paintDisc(mask, w, h, from[0] + (to[0] - from[0]) * t, from[1] + (to[1] - from[1]) * t, radius, value);
  }
}
