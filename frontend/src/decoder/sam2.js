// SAM 2.1 in the decoder worker: the prompt tensors and the mask postprocessing of
// SAM2ImagePredictor (the feature wire format is wire2.js). Pure functions (no onnxruntime), so
// they run in node --test, the page and the worker alike.
//
// What differs from SAM 1 (feeds.js / upsample.js), each a measurable miss if done SAM 1's way:
// - coordinates scale per axis (x / w * 1024, y / h * 1024): the image is stretched to a square;
// - box corners (labels 2, 3) come before the clicks, and the padding point (0, 0, label -1) is
//   appended always, also with a box;
// - masks go from 256x256 straight to (h, w) (no 1024 frame, no crop);
// - candidate 0 of decode.onnx is already SAM 2's dynamic single-mask choice.
import { bilinearTaps, resize2d } from "./upsample.js";

export const IMG_SIZE = 1024;
export const LOW_RES = 256;
export const LOW_RES_CLAMP = 32;

// point_coords (1, N, 2) / point_labels (1, N) as SAM2ImagePredictor builds them. Coordinates
// are computed in float32 like the reference ((x / w) * 1024 with float32 rounding).
export function buildSam2PromptTensors({ points = [], labels = [], box = null, origSize }) {
  if (points.length !== labels.length) throw new Error("points and labels differ in length");
  const [h, w] = origSize;
  const all = [];
  const lab = [];
  if (box) {
    all.push([Math.min(box[0], box[2]), Math.min(box[1], box[3])], [Math.max(box[0], box[2]), Math.max(box[1], box[3])]);
    lab.push(2, 3);
  }
  points.forEach((p, i) => {
    all.push([p[0], p[1]]);
    lab.push(Number(labels[i]));
  });
  if (!all.length) throw new Error("give at least one point or a box");
  const n = all.length + 1;
  const coords = new Float32Array(2 * n); // the last point stays (0, 0): the padding point
  const f = Math.fround;
  all.forEach(([x, y], i) => {
    coords[2 * i] = f(f(f(x) / f(w)) * IMG_SIZE);
    coords[2 * i + 1] = f(f(f(y) / f(h)) * IMG_SIZE);
  });
  lab.push(-1);
  return {
    point_coords: { data: coords, dims: [1, n, 2] },
    point_labels: { data: Float32Array.from(lab), dims: [1, n] },
  };
}

// A fed-back mask as the reference takes it: the returned low-res logits are clamped to +-32.
export function clampLowRes(lowRes) {
  const out = new Float32Array(lowRes.length);
  for (let i = 0; i < lowRes.length; i++) out[i] = Math.max(-LOW_RES_CLAMP, Math.min(LOW_RES_CLAMP, lowRes[i]));
  return out;
}

// decode.onnx's candidates: 0 = the single-mask answer (dynamic fallback already applied),
// 1..3 = multimask; with multimask the best-scored of 1..3.
export function chooseSam2Mask(scores, multimask) {
  if (!multimask) return 0;
  let best = 1;
  for (let i = 2; i < 4; i++) if (scores[i] > scores[best]) best = i;
  return best;
}

// Float32Array(256 * 256) unclamped logits -> Float32Array(h * w) logits, bilinear in one step.
export function upsampleSam2Logits(logits, h, w) {
  return resize2d(logits, LOW_RES, LOW_RES, bilinearTaps(LOW_RES, h), bilinearTaps(LOW_RES, w));
}

export function upsampleSam2Mask(logits, h, w, threshold = 0.0) {
  const up = upsampleSam2Logits(logits, h, w);
  const mask = new Uint8Array(up.length);
  for (let i = 0; i < up.length; i++) mask[i] = up[i] > threshold ? 1 : 0;
  return mask;
}
