// The hover atlas (export_onnx/atlas_format.py): SAM's hover mask for every cell of a grid over
// the image, computed by the worker. Pure ES module (no DOM): it runs in node --test, the page and
// the decoder worker alike. The payload inflates with DecompressionStream("deflate") (zlib), whose
// Adler-32 refuses a corrupt payload; the header is checked field by field first, and nothing
// inflates past the size the header's shapes imply.
//
// Frames: points are XY in original image pixels; stored masks cover the whole image at
// maskSize = [h, w] pixels; boxes are XYXY, end exclusive, in stored-mask pixels (`maskBox`
// converts to image pixels).

export const ATLAS_MAGIC = "SAMA";
export const ATLAS_VERSION = 1;
export const ATLAS_HEADER = 64;
export const NO_MASK = 0xffff;
const CODE_RUNS_ZLIB = 1;
const MAX_GRID = 256;
const MAX_MASK_SIDE = 1024;
const MAX_PAYLOAD = 64 << 20;

export class AtlasError extends Error {}

// Offsets of the scores, boxes and runs in the inflated payload, and its largest possible size
// (at most h * w + 1 runs a mask, 3 bytes each).
function payloadLayout(rows, cols, n, h, w) {
  const indexBytes = 2 * rows * cols;
  const scores = indexBytes + ((4 - (indexBytes % 4)) % 4);
  const boxes = scores + 8 * n;
  const runs = boxes + 8 * n;
  return { scores, boxes, runs, largest: runs + n * 3 * (h * w + 1) };
}

// The masks' LEB128 run lengths -> one Uint32Array of runs per mask, checked as the Python reader
// checks them: each mask's runs cover exactly h * w pixels, only a first run may be 0, no varint
// is longer than 3 bytes and no byte is left over.
function splitRuns(bytes, n, pixels) {
  const masks = [];
  let at = 0;
  for (let k = 0; k < n; k++) {
    const runs = [];
    let total = 0;
    while (total < pixels) {
      let value = 0;
      for (let i = 0; ; i++) {
        if (at >= bytes.length) throw new AtlasError(`mask ${k}'s runs end early`);
        if (i === 3) throw new AtlasError("a mask run is longer than 3 bytes");
        const b = bytes[at++];
        value |= (b & 0x7f) << (7 * i);
        if (!(b & 0x80)) break;
      }
      if (value === 0 && runs.length) throw new AtlasError("a mask run is empty");
      runs.push(value);
      total += value;
    }
    if (total !== pixels) throw new AtlasError(`mask ${k}'s runs cover ${total} pixels, not ${pixels}`);
    masks.push(Uint32Array.from(runs));
  }
  if (at !== bytes.length) throw new AtlasError("bytes after the last mask's runs");
  return masks;
}

function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// Header fields, checked; throws AtlasError. `modelKey` (hex): the decoder's checkpoint, which
// the atlas must match exactly (an atlas is only ever painted for the model that made it).
export function readAtlasHeader(buffer, { modelKey = null } = {}) {
  if (!(buffer instanceof ArrayBuffer)) throw new AtlasError("atlas must be an ArrayBuffer");
  if (buffer.byteLength < ATLAS_HEADER) throw new AtlasError(`${buffer.byteLength} bytes is too short for an atlas header`);
  const view = new DataView(buffer);
  const magic = String.fromCharCode(...new Uint8Array(buffer, 0, 4));
  if (magic !== ATLAS_MAGIC) throw new AtlasError(`not a hover atlas (magic ${JSON.stringify(magic)})`);
  const version = view.getUint16(4, true);
  const code = view.getUint16(6, true);
  if (version !== ATLAS_VERSION || code !== CODE_RUNS_ZLIB) throw new AtlasError(`unsupported atlas version ${version} code ${code}`);
  const key = hex(new Uint8Array(buffer, 8, 16));
  if (modelKey !== null && key !== modelKey.toLowerCase()) {
    throw new AtlasError(`atlas was computed by another model (key ${key}, expected ${modelKey})`);
  }
  const u16 = (o) => view.getUint16(o, true);
  const u32 = (o) => view.getUint32(o, true);
  const header = {
    modelKey: key,
    originalSize: [u32(24), u32(28)],
    grid: [u16(32), u16(34)],
    maskSize: [u16(36), u16(38)],
    count: u32(40),
    payloadSize: u32(44),
    packedSize: u32(48),
  };
  const [rows, cols] = header.grid;
  const [h, w] = header.maskSize;
  const n = header.count;
  if (rows < 1 || cols < 1 || rows > MAX_GRID || cols > MAX_GRID) throw new AtlasError(`grid ${rows}x${cols} is outside 1..${MAX_GRID}`);
  if (h < 1 || w < 1 || h > MAX_MASK_SIDE || w > MAX_MASK_SIDE) throw new AtlasError(`mask size ${h}x${w} is outside 1..${MAX_MASK_SIDE}`);
  if (n > rows * cols || n >= NO_MASK) throw new AtlasError(`${n} masks for ${rows * cols} cells`);
  if (header.originalSize[0] < 1 || header.originalSize[1] < 1) throw new AtlasError("image size must be positive");
  header.layout = payloadLayout(rows, cols, n, h, w);
  const { runs, largest } = header.layout;
  if (header.payloadSize < runs + n || header.payloadSize > Math.min(largest, MAX_PAYLOAD)) {
    throw new AtlasError(`payload of ${header.payloadSize} bytes cannot hold ${n} masks of ${h}x${w}`);
  }
  if (buffer.byteLength !== ATLAS_HEADER + header.packedSize) {
    throw new AtlasError(`atlas has ${buffer.byteLength} bytes, header says ${ATLAS_HEADER + header.packedSize}`);
  }
  return header;
}

// zlib -> exactly `size` bytes, or AtlasError (corrupt, short, or longer than promised).
async function inflate(bytes, size) {
  const out = new Uint8Array(size);
  let filled = 0;
  const stream = new ReadableStream({
    start(controller) {
      controller.enqueue(bytes);
      controller.close();
    },
  }).pipeThrough(new DecompressionStream("deflate"));
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (filled + value.length > size) {
        await reader.cancel();
        throw new AtlasError(`atlas payload inflates to more than ${size} bytes`);
      }
      out.set(value, filled);
      filled += value.length;
    }
  } catch (err) {
    if (err instanceof AtlasError) throw err;
    throw new AtlasError(`corrupt atlas payload (${err?.message ?? err})`);
  }
  if (filled !== size) throw new AtlasError(`atlas payload inflates to ${filled} bytes, expected ${size}`);
  return out;
}

// Parse and check an encoded atlas (ArrayBuffer) -> Atlas. Throws AtlasError on anything wrong.
export async function parseAtlas(buffer, { modelKey = null } = {}) {
  const header = readAtlasHeader(buffer, { modelKey });
  const payload = await inflate(new Uint8Array(buffer, ATLAS_HEADER, header.packedSize), header.payloadSize);
  return new Atlas(header, payload.buffer);
}

export class Atlas {
  constructor(header, payload) {
    const [rows, cols] = header.grid;
    const [h, w] = header.maskSize;
    const n = header.count;
    const { layout } = header;
    Object.assign(this, {
      modelKey: header.modelKey,
      originalSize: header.originalSize,
      grid: header.grid,
      maskSize: header.maskSize,
      count: n,
    });
    // Little-endian views; every platform a browser runs on is little-endian.
    this.index = new Uint16Array(payload, 0, rows * cols);
    this.predictedIou = new Float32Array(payload, layout.scores, n);
    this.stability = new Float32Array(payload, layout.scores + 4 * n, n);
    this.boxes = new Uint16Array(payload, layout.boxes, 4 * n);
    this.runs = splitRuns(new Uint8Array(payload, layout.runs), n, h * w);
    this.bitmaps = new Map();
    for (const id of this.index) if (id !== NO_MASK && id >= n) throw new AtlasError("index points past the masks");
    for (let i = 0; i < n; i++) {
      const [x0, y0, x1, y1] = this.boxes.subarray(4 * i, 4 * i + 4);
      if (!(x0 < x1 && y0 < y1 && x1 <= w && y1 <= h)) throw new AtlasError("a mask box lies outside the mask");
    }
  }

  // The cell under (x, y) in image pixels as [row, col], or null outside the image.
  cellAt(x, y) {
    const [H, W] = this.originalSize;
    if (!(x >= 0 && y >= 0 && x < W && y < H)) return null;
    const [rows, cols] = this.grid;
    return [Math.min(rows - 1, Math.floor((y * rows) / H)), Math.min(cols - 1, Math.floor((x * cols) / W))];
  }

  // The hover mask id at (x, y) in image pixels, or -1 (outside the image, or an empty mask).
  maskAt(x, y) {
    const cell = this.cellAt(x, y);
    if (!cell) return -1;
    const id = this.index[cell[0] * this.grid[1] + cell[1]];
    return id === NO_MASK ? -1 : id;
  }

  // Mask `id` as a Uint8Array(h * w) of 0/1 in the stored frame (cached: proposals reuse it).
  mask(id) {
    this.#check(id);
    let out = this.bitmaps.get(id);
    if (!out) {
      const [h, w] = this.maskSize;
      out = new Uint8Array(h * w);
      let at = 0;
      const runs = this.runs[id];
      for (let i = 0; i < runs.length; i++) {
        if (i & 1) out.fill(1, at, at + runs[i]);
        at += runs[i];
      }
      this.bitmaps.set(id, out);
    }
    return out;
  }

  // Mask `id` painted in `rgba` ([r, g, b, a] 0..255) as RGBA bytes for
  // `new ImageData(data, w, h)` at maskSize [h, w]; the canvas scales it over the image. Filling
  // the inside runs is the whole cost. `out` (a previous result) is cleared and reused.
  paint(id, rgba, out = null) {
    this.#check(id);
    const [h, w] = this.maskSize;
    const data = out ?? new Uint8ClampedArray(h * w * 4);
    if (data.length !== h * w * 4) throw new AtlasError(`paint target must hold ${h * w * 4} bytes`);
    const px = new Uint32Array(data.buffer, data.byteOffset, h * w);
    if (out) px.fill(0);
    const [r, g, b, a] = rgba;
    const colour = ((a << 24) | (b << 16) | (g << 8) | r) >>> 0;
    let at = 0;
    const runs = this.runs[id];
    for (let i = 0; i < runs.length; i++) {
      if (i & 1) px.fill(colour, at, at + runs[i]);
      at += runs[i];
    }
    return data;
  }

  // Box of mask `id` as [x0, y0, x1, y1] in image pixels (the stored pixels' edges, scaled).
  maskBox(id) {
    this.#check(id);
    const [H, W] = this.originalSize;
    const [h, w] = this.maskSize;
    const [x0, y0, x1, y1] = this.boxes.subarray(4 * id, 4 * id + 4);
    return [(x0 * W) / w, (y0 * H) / h, (x1 * W) / w, (y1 * H) / h];
  }

  // Everything mode from the atlas: mask ids ranked by predicted IoU, then stability, keeping
  // those at or above the thresholds and dropping a mask whose IoU with a better-ranked kept one
  // exceeds `maxOverlap` (greedy NMS on the stored masks, as the mask generator does on boxes).
  proposals({ minIou = -Infinity, minStability = 0, maxOverlap = 0.7 } = {}) {
    const ids = [];
    for (let i = 0; i < this.count; i++) {
      if (this.predictedIou[i] >= minIou && this.stability[i] >= minStability) ids.push(i);
    }
    ids.sort((a, b) => this.predictedIou[b] - this.predictedIou[a] || this.stability[b] - this.stability[a] || a - b);
    const kept = [];
    const areas = new Map();
    for (const id of ids) {
      if (kept.every((k) => this.#iou(id, k, areas) <= maxOverlap)) kept.push(id);
    }
    return kept;
  }

  #area(id, areas) {
    if (!areas.has(id)) {
      let count = 0;
      const runs = this.runs[id];
      for (let i = 1; i < runs.length; i += 2) count += runs[i];
      areas.set(id, count);
    }
    return areas.get(id);
  }

  #iou(a, b, areas) {
    if (!this.#boxesMeet(a, b)) return 0;
    const mb = this.mask(b);
    let inter = 0;
    let at = 0;
    const runs = this.runs[a];
    for (let i = 0; i < runs.length; i++) {
      if (i & 1) for (let p = at; p < at + runs[i]; p++) inter += mb[p];
      at += runs[i];
    }
    const union = this.#area(a, areas) + this.#area(b, areas) - inter;
    return union > 0 ? inter / union : 0;
  }

  #boxesMeet(a, b) {
    const A = this.boxes.subarray(4 * a, 4 * a + 4);
    const B = this.boxes.subarray(4 * b, 4 * b + 4);
    return A[0] < B[2] && B[0] < A[2] && A[1] < B[3] && B[1] < A[3];
  }

  #check(id) {
    if (!Number.isInteger(id) || id < 0 || id >= this.count) throw new AtlasError(`no mask ${id} in this atlas`);
  }
}
