// Low-res (256x256) mask logits -> logits at the original image size, with exactly the crop logic
// of Sam.postprocess_masks: bilinear (align_corners=False) to 1024x1024, crop to the resized image
// (newH x newW, top-left), bilinear to (origH, origW). Both resizes are separable, so each runs as
// a horizontal then a vertical pass; the crop is applied before the 1024 frame is ever filled.
import { LOW_RES, IMG_SIZE, resizedSize } from "./feeds.js";

// Source index pairs and weights of a 1-D bilinear resize (PyTorch's align_corners=False rule:
// src = (dst + 0.5) * scale - 0.5, clamped at 0) for the first `count` output positions. `scale`
// (input units per output pixel) is in/out unless a caller folds several resizes into one.
export function bilinearTaps(inSize, outSize, count = outSize, scale = inSize / outSize) {
  const i0 = new Int32Array(count);
  const i1 = new Int32Array(count);
  const w1 = new Float32Array(count);
  for (let d = 0; d < count; d++) {
    let src = (d + 0.5) * scale - 0.5;
    if (src < 0) src = 0;
    const lo = Math.min(Math.floor(src), inSize - 1);
    i0[d] = lo;
    i1[d] = Math.min(lo + 1, inSize - 1);
    w1[d] = src - lo;
  }
  return { i0, i1, w1 };
}

// Resize a (inH, inW) row-major map to (outH, outW) taps (separable bilinear).
export function resize2d(src, inH, inW, ty, tx) {
  const outH = ty.i0.length;
  const outW = tx.i0.length;
  const rows = new Float32Array(inH * outW);
  for (let y = 0; y < inH; y++) {
    const r = y * inW;
    const o = y * outW;
    for (let x = 0; x < outW; x++) {
      const a = src[r + tx.i0[x]];
      rows[o + x] = a + (src[r + tx.i1[x]] - a) * tx.w1[x];
    }
  }
  const out = new Float32Array(outH * outW);
  for (let y = 0; y < outH; y++) {
    const r0 = ty.i0[y] * outW;
    const r1 = ty.i1[y] * outW;
    const w = ty.w1[y];
    const o = y * outW;
    for (let x = 0; x < outW; x++) {
      const a = rows[r0 + x];
      out[o + x] = a + (rows[r1 + x] - a) * w;
    }
  }
  return out;
}

// logits: Float32Array(256 * 256) of one mask -> Float32Array(origH * origW) logits.
export function upsampleLogits(logits, origH, origW) {
  const [newH, newW] = resizedSize(origH, origW);
  const cropped = resize2d(
    logits, LOW_RES, LOW_RES,
    bilinearTaps(LOW_RES, IMG_SIZE, newH), bilinearTaps(LOW_RES, IMG_SIZE, newW),
  );
  return resize2d(cropped, newH, newW, bilinearTaps(newH, origH), bilinearTaps(newW, origW));
}

// Binary mask (1 = inside) at the original size: logits > threshold (SAM's mask_threshold = 0).
export function upsampleMask(logits, origH, origW, threshold = 0.0) {
  const up = upsampleLogits(logits, origH, origW);
  const mask = new Uint8Array(up.length);
  for (let i = 0; i < up.length; i++) mask[i] = up[i] > threshold ? 1 : 0;
  return mask;
}

// One mask of a (K, 256, 256) logits block as its own Float32Array view.
export function maskSlice(lowRes, index) {
  const n = LOW_RES * LOW_RES;
  return lowRes.subarray(index * n, (index + 1) * n);
}
