// The SAM 2 feature wire format (export_onnx/wire2.py, its docstring has the layout) in the page:
// the header checks and the decode to float32 features, equal float for float to
// export_onnx.wire2.decode_features (tests/export_onnx/test_sam2_wire.py runs both on the same
// files). Pure functions, so they run in node --test, the page and the worker alike.
// Version 2: 2x2 Haar bands, a codebook of 1-6 bits per (tensor, channel, band). Version 1
// (per-channel codebooks 4/5/4 bits, export_onnx/wire2_v1.py) is still read: embeddings stored
// before version 2 stay on users' disks until they are recomputed.
//
// Decoded here rather than in an ONNX graph: the bit width differs per band, which a static
// graph cannot index without decoding every width; a table lookup and four adds per value are
// plain loops (about 4.2 million values per image).

export const WIRE2_HEADER = 64;
export const WIRE2_MAX_BYTES = 2_500_000;
export const WIRE2_MIN_BITS = 1;
export const WIRE2_MAX_BITS = 6;
// Must equal export_onnx/wire2.py TENSORS: name, [C, H, W].
export const WIRE2_TENSORS = [
  ["image_embed", [256, 64, 64]],
  ["high_res_feats_0", [32, 256, 256]],
  ["high_res_feats_1", [64, 128, 128]],
];
// Version 1's bits per tensor (export_onnx/wire2_v1.py TENSORS).
const V1_BITS = [4, 5, 4];
export const WIRE2_UNITS = WIRE2_TENSORS.reduce((n, [, [c]]) => n + 4 * c, 0);

function v1Sections() {
  return WIRE2_TENSORS.map(([, [c, h, w]], i) => {
    const bits = V1_BITS[i];
    const count = c * h * w;
    return { table: 4 * c * (1 << bits), hi: count / 2, lo: bits === 5 ? count / 8 : 0, bits };
  });
}

export const WIRE2_V1_BYTES = WIRE2_HEADER + v1Sections().reduce((n, s) => n + s.table + s.hi + s.lo, 0);

// Values per unit (one band of one channel), in unit order.
function bandSizes() {
  const out = [];
  for (const [, [c, h, w]] of WIRE2_TENSORS) for (let i = 0; i < 4 * c; i++) out.push((h * w) / 4);
  return out;
}
const BAND_SIZES = bandSizes();

// Bytes of a version 2 file whose units have these bits.
export function wire2Size(bits) {
  let size = WIRE2_HEADER + WIRE2_UNITS;
  for (let i = 0; i < WIRE2_UNITS; i++) size += 4 * (1 << bits[i]) + (bits[i] * BAND_SIZES[i]) / 8;
  return size;
}

function fail(message) {
  throw new Error(`SAM 2 features: ${message}`);
}

// Checks everything the decode relies on (as export_onnx.wire2.read_header): after this, no
// read is out of bounds. Returns {version, modelKey (hex), originalSize [h, w], bits, tables}.
export function readSam2Header(buffer) {
  if (!(buffer instanceof ArrayBuffer) || buffer.byteLength < WIRE2_HEADER) fail("too short for a header");
  const view = new DataView(buffer);
  const magic = String.fromCharCode(...new Uint8Array(buffer, 0, 4));
  if (magic !== "SAM2") throw new Error(`not SAM 2 features (magic ${magic})`);
  const version = view.getUint16(4, true);
  const count = view.getUint16(6, true);
  if (![1, 2].includes(version) || count !== WIRE2_TENSORS.length || view.getUint32(32, true) !== WIRE2_HEADER) {
    fail(`unsupported version ${version}`);
  }
  const total = view.getUint32(36, true);
  if (total !== buffer.byteLength) fail(`${buffer.byteLength} bytes, the header says ${total}`);
  let bits = null;
  let tables;
  if (version === 1) {
    if (total !== WIRE2_V1_BYTES) fail(`v1 has ${total} bytes, not ${WIRE2_V1_BYTES}`);
    tables = [];
    let offset = WIRE2_HEADER;
    for (const s of v1Sections()) {
      tables.push(new Float32Array(buffer, offset, s.table / 4));
      offset += s.table + s.hi + s.lo;
    }
  } else {
    if (new Uint8Array(buffer, 40, 24).some((b) => b !== 0)) fail("reserved header bytes are not zero");
    if (total > WIRE2_MAX_BYTES || total < WIRE2_HEADER + WIRE2_UNITS) fail(`${total} bytes, allowed at most ${WIRE2_MAX_BYTES}`);
    bits = new Uint8Array(buffer, WIRE2_HEADER, WIRE2_UNITS);
    if (bits.some((b) => b < WIRE2_MIN_BITS || b > WIRE2_MAX_BITS)) fail(`bits must be ${WIRE2_MIN_BITS} to ${WIRE2_MAX_BITS}`);
    if (wire2Size(bits) !== total) fail(`${total} bytes, their bits say ${wire2Size(bits)}`);
    const levels = bits.reduce((n, b) => n + (1 << b), 0);
    tables = [new Float32Array(buffer, WIRE2_HEADER + WIRE2_UNITS, levels)];
  }
  if (tables.some((t) => !t.every(Number.isFinite))) fail("a codebook holds NaN or infinity");
  const modelKey = Array.from(new Uint8Array(buffer, 8, 16), (b) => b.toString(16).padStart(2, "0")).join("");
  return { version, modelKey, originalSize: [view.getUint32(24, true), view.getUint32(28, true)], bits, tables };
}

// The three float32 feature maps as prepare.onnx takes them: {name: {data, dims: [1, C, H, W]}}.
export function decodeSam2Features(buffer) {
  const header = readSam2Header(buffer);
  return header.version === 1 ? decodeV1(buffer, header) : decodeV2(buffer, header);
}

function decodeV1(buffer, { tables }) {
  const out = {};
  let offset = WIRE2_HEADER;
  v1Sections().forEach((s, t) => {
    const [name, [c, h, w]] = WIRE2_TENSORS[t];
    const hi = new Uint8Array(buffer, offset + s.table, s.hi);
    const lo = new Uint8Array(buffer, offset + s.table + s.hi, s.lo);
    const table = tables[t];
    const levels = 1 << s.bits;
    const n = h * w;
    const data = new Float32Array(c * n);
    for (let ch = 0; ch < c; ch++) {
      for (let i = ch * n, end = i + n, row = ch * levels; i < end; i++) {
        const nibble = i & 1 ? hi[i >> 1] & 15 : hi[i >> 1] >> 4;
        const code = s.bits === 5 ? nibble * 2 + ((lo[i >> 3] >> (7 - (i & 7))) & 1) : nibble;
        data[i] = table[row + code];
      }
    }
    out[name] = { data, dims: [1, c, h, w] };
    offset += s.table + s.hi + s.lo;
  });
  return out;
}

// A nibble's four bits spread to the low bit of a 32-bit word's four bytes (first bit in the top
// byte): shifting a word left once per bit plane then builds four codes side by side, one per
// byte (codes have at most 6 bits, so they never carry into each other).
const SPREAD = Uint32Array.from({ length: 16 }, (_, v) => ((v >> 3) << 24) | (((v >> 2) & 1) << 16) | (((v >> 1) & 1) << 8) | (v & 1));

// The codes of one unit from its `b` bit planes (most significant first; value i in bit
// 7 - i % 8 of byte i / 8 of a plane), eight values per step, looked up in its table (levels
// from `t` in `table`). Small functions so that the engine optimises them after a few of the
// 1,408 calls, rather than running one long first call in its interpreter.
function decodeUnit(bytes, planeAt, b, table, t, band) {
  const stride = band.length / 8;
  for (let j = 0; j < stride; j++) {
    let hi = 0;
    let lo = 0;
    for (let p = 0, at = planeAt + j; p < b; p++, at += stride) {
      const byte = bytes[at];
      hi = (hi << 1) | SPREAD[byte >> 4];
      lo = (lo << 1) | SPREAD[byte & 15];
    }
    const i = 8 * j;
    band[i] = table[t + (hi >>> 24)];
    band[i + 1] = table[t + ((hi >>> 16) & 255)];
    band[i + 2] = table[t + ((hi >>> 8) & 255)];
    band[i + 3] = table[t + (hi & 255)];
    band[i + 4] = table[t + (lo >>> 24)];
    band[i + 5] = table[t + ((lo >>> 16) & 255)];
    band[i + 6] = table[t + ((lo >>> 8) & 255)];
    band[i + 7] = table[t + (lo & 255)];
  }
}

// One channel's four bands back to its (h, w) map from `base` in `data`: each sum left to right
// in float32, then halved (exact), as export_onnx.wire2.unhaar.
function unhaarChannel(ll, lh, hl, hh, data, base, h, w) {
  const f = Math.fround;
  const half = w / 2;
  for (let y = 0; y < h / 2; y++) {
    const top = base + 2 * y * w;
    for (let x = 0, i = y * half; x < half; x++, i++) {
      const a = ll[i], b = lh[i], d = hl[i], e = hh[i];
      data[top + 2 * x] = f(f(f(a + b) + d) + e) * 0.5;
      data[top + 2 * x + 1] = f(f(f(a - b) + d) - e) * 0.5;
      data[top + w + 2 * x] = f(f(f(a + b) - d) - e) * 0.5;
      data[top + w + 2 * x + 1] = f(f(f(a - b) - d) + e) * 0.5;
    }
  }
}

function decodeV2(buffer, { bits, tables }) {
  const bytes = new Uint8Array(buffer);
  const table = tables[0];
  let tableAt = 0;
  let planeAt = WIRE2_HEADER + WIRE2_UNITS + 4 * table.length;
  let unit = 0;
  const out = {};
  for (const [name, [c, h, w]] of WIRE2_TENSORS) {
    const n = (h * w) / 4;
    const data = new Float32Array(c * h * w);
    const bands = [0, 1, 2, 3].map(() => new Float32Array(n));
    for (let ch = 0; ch < c; ch++) {
      for (const band of bands) {
        const b = bits[unit++];
        decodeUnit(bytes, planeAt, b, table, tableAt, band);
        tableAt += 1 << b;
        planeAt += (b * n) / 8;
      }
      unhaarChannel(...bands, data, ch * h * w, h, w);
    }
    out[name] = { data, dims: [1, c, h, w] };
  }
  return out;
}
