// Pure builders of the decoder's input tensors from prompts (no onnxruntime import, so they run in
// node --test, the page and the worker alike). Shapes and names follow Meta's ONNX decoder:
// point_coords (1, N, 2) float32 in the 1024-resized frame, point_labels (1, N) float32 with
// 1 = foreground, 0 = background, 2/3 = box corners, -1 = padding point.

export const IMG_SIZE = 1024;
export const LOW_RES = 256;

// ResizeLongestSide.get_preprocess_shape: the image size after resizing its longest side to 1024.
// Same double arithmetic as the Python reference: int(x * 1024 / max(h, w) + 0.5).
export function resizedSize(origH, origW, longSide = IMG_SIZE) {
  const scale = (longSide * 1.0) / Math.max(origH, origW);
  return [Math.trunc(origH * scale + 0.5), Math.trunc(origW * scale + 0.5)];
}

// Points [[x, y], ...] in original pixels -> flat [x', y', ...] in the 1024 frame, scaled per
// axis by new/old exactly as ResizeLongestSide.apply_coords does.
export function transformCoords(points, origH, origW) {
  const [newH, newW] = resizedSize(origH, origW);
  const out = new Float32Array(points.length * 2);
  points.forEach(([x, y], i) => {
    out[2 * i] = x * (newW / origW);
    out[2 * i + 1] = y * (newH / origH);
  });
  return out;
}

// The prompt tensors shared by every graph. `box` is [x0, y0, x1, y1] in original pixels or null;
// it becomes two corner points (labels 2, 3) after the clicks. Without a box SAM appends one
// padding point (0, 0) labelled -1, as SamPredictor does (pad = boxes is None).
export function buildPromptTensors({ points = [], labels = [], box = null, origSize }) {
  if (points.length !== labels.length) throw new Error("points and labels differ in length");
  const [origH, origW] = origSize;
  const all = points.map((p) => [p[0], p[1]]);
  const lab = labels.map(Number);
  if (box) {
    // Corners in any order, as SamPredictor's normalize_boxes accepts them.
    const [x0, x1] = [Math.min(box[0], box[2]), Math.max(box[0], box[2])];
    const [y0, y1] = [Math.min(box[1], box[3]), Math.max(box[1], box[3])];
    all.push([x0, y0], [x1, y1]);
    lab.push(2, 3);
  }
  const coords = transformCoords(all, origH, origW);
  let n = all.length;
  let flat = coords;
  if (!box) {
    flat = new Float32Array(2 * (n + 1));
    flat.set(coords);
    lab.push(-1);
    n += 1;
  }
  return {
    point_coords: { data: flat, dims: [1, n, 2] },
    point_labels: { data: Float32Array.from(lab), dims: [1, n] },
  };
}

// mask_input (1, 1, 256, 256) and has_mask_input (1): a previous low-res logits map fed back, or
// zeros and 0 when there is none.
export function buildMaskTensors(maskInput = null) {
  const size = LOW_RES * LOW_RES;
  if (maskInput && maskInput.length !== size) {
    throw new Error(`maskInput must have ${size} values, got ${maskInput.length}`);
  }
  return {
    mask_input: { data: maskInput ? Float32Array.from(maskInput) : new Float32Array(size), dims: [1, 1, LOW_RES, LOW_RES] },
    has_mask_input: { data: Float32Array.of(maskInput ? 1 : 0), dims: [1] },
  };
}

// Feeds of Meta's decoder (decoder.onnx / the reference export): prompts, mask and orig_im_size.
export function buildReferenceFeeds(prompt) {
  const [h, w] = prompt.origSize;
  return {
    ...buildPromptTensors(prompt),
    ...buildMaskTensors(prompt.maskInput ?? null),
    orig_im_size: { data: Float32Array.of(h, w), dims: [2] },
  };
}

// The wire embedding (export_onnx/wire.py) as the per-image graph's inputs: views, no copies.
export const WIRE_HEADER = 64;
export function wireTensors(buffer) {
  const view = new DataView(buffer);
  const magic = String.fromCharCode(...new Uint8Array(buffer, 0, 4));
  if (magic !== "SAME") throw new Error(`not a SAM embedding (magic ${magic})`);
  const version = view.getUint16(4, true);
  const code = view.getUint16(6, true);
  if (version !== 1 || code !== 1) throw new Error(`unsupported embedding v${version} code ${code}`);
  const c = view.getUint32(8, true);
  const h = view.getUint32(12, true);
  const w = view.getUint32(16, true);
  const expected = WIRE_HEADER + 8 * c + c * h * w;
  if (buffer.byteLength !== expected) throw new Error(`embedding has ${buffer.byteLength} bytes, expected ${expected}`);
  const key = Array.from(new Uint8Array(buffer, 24, 16), (b) => b.toString(16).padStart(2, "0")).join("");
  return {
    modelKey: key,
    originalSize: [view.getUint32(40, true), view.getUint32(44, true)],
    tensors: {
      embedding_scale: { data: new Float32Array(buffer, WIRE_HEADER, c), dims: [c] },
      embedding_offset: { data: new Float32Array(buffer, WIRE_HEADER + 4 * c, c), dims: [c] },
      embedding_q: { data: new Uint8Array(buffer, WIRE_HEADER + 8 * c, c * h * w), dims: [1, c, h, w] },
    },
  };
}

// Which of the 4 mask tokens SamPredictor returns: token 0 for a single mask; for multimask the
// three candidates 1..3, best first by predicted IoU.
export function chooseMask(scores, multimask) {
  if (!multimask) return 0;
  let best = 1;
  for (let i = 2; i < 4; i++) if (scores[i] > scores[best]) best = i;
  return best;
}
