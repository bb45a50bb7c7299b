// Unit tests of the SAM 2.1 decoder helpers (src/decoder/sam2.js) and the feature wire reader
// (src/decoder/wire2.js): node --test tests/.
import assert from "node:assert/strict";
import { test } from "node:test";
import { buildSam2PromptTensors, chooseSam2Mask, clampLowRes, upsampleSam2Logits, upsampleSam2Mask } from "../src/decoder/sam2.js";
import {
  WIRE2_HEADER,
  WIRE2_MAX_BYTES,
  WIRE2_TENSORS,
  WIRE2_UNITS,
  WIRE2_V1_BYTES,
  decodeSam2Features,
  readSam2Header,
  wire2Size,
} from "../src/decoder/wire2.js";

test("coordinates scale per axis to the 1024 square, in float32", () => {
  const t = buildSam2PromptTensors({ points: [[100, 50]], labels: [1], origSize: [300, 451] });
  const f = Math.fround;
  assert.equal(t.point_coords.data[0], f(f(f(100) / 451) * 1024));
  assert.equal(t.point_coords.data[1], f(f(f(50) / 300) * 1024));
});

test("the padding point is appended always, also with a box; box corners come first", () => {
  const t = buildSam2PromptTensors({ points: [[10, 20]], labels: [0], box: [40, 30, 10, 5], origSize: [300, 451] });
  assert.deepEqual(Array.from(t.point_labels.data), [2, 3, 0, -1]);
  assert.deepEqual(t.point_coords.dims, [1, 4, 2]);
  const c = t.point_coords.data;
  assert.ok(c[0] < c[2] && c[1] < c[3], "corners sorted: top-left first");
  assert.equal(c[6], 0);
  assert.equal(c[7], 0);
  const only = buildSam2PromptTensors({ box: [1, 2, 3, 4], origSize: [10, 10] });
  assert.deepEqual(Array.from(only.point_labels.data), [2, 3, -1]);
  assert.throws(() => buildSam2PromptTensors({ origSize: [10, 10] }), /at least one/);
});

test("candidate 0 is the single answer; multimask picks the best of 1..3", () => {
  assert.equal(chooseSam2Mask([0.99, 0.1, 0.5, 0.2], false), 0);
  assert.equal(chooseSam2Mask([0.99, 0.1, 0.5, 0.2], true), 2);
});

test("fed-back masks are clamped to +-32", () => {
  assert.deepEqual(Array.from(clampLowRes(Float32Array.of(-40, 3, 33))), [-32, 3, 32]);
});

test("upsampling goes straight to (h, w): constants stay, a half split stays a half split", () => {
  const n = 256 * 256;
  const ones = new Float32Array(n).fill(2);
  const up = upsampleSam2Logits(ones, 300, 451);
  assert.equal(up.length, 300 * 451);
  assert.ok(up.every((v) => Math.abs(v - 2) < 1e-6));
  const half = new Float32Array(n);
  for (let y = 0; y < 256; y++) for (let x = 0; x < 128; x++) half[y * 256 + x] = 1;
  const mask = upsampleSam2Mask(half.map((v) => v - 0.5), 100, 200);
  let inside = 0;
  for (let x = 0; x < 200; x++) inside += mask[x];
  assert.equal(inside, 100);
});

function header(buffer, version, total) {
  const view = new DataView(buffer);
  new Uint8Array(buffer, 0, 4).set([..."SAM2"].map((c) => c.charCodeAt(0)));
  view.setUint16(4, version, true);
  view.setUint16(6, WIRE2_TENSORS.length, true);
  new Uint8Array(buffer, 8, 16).fill(0xab);
  view.setUint32(24, 300, true);
  view.setUint32(28, 451, true);
  view.setUint32(32, WIRE2_HEADER, true);
  view.setUint32(36, total, true);
}

// A version 2 file: unit u has bits[u] and levels u + k / 2^bits; codes all 0 but for unit 0
// (image_embed channel 0, LL), whose first value has code 3 at 2 bits.
function v2Buffer(bits = new Uint8Array(WIRE2_UNITS).fill(1)) {
  bits[0] = 2;
  const total = wire2Size(bits);
  const buffer = new ArrayBuffer(total);
  header(buffer, 2, total);
  new Uint8Array(buffer, WIRE2_HEADER, WIRE2_UNITS).set(bits);
  let at = WIRE2_HEADER + WIRE2_UNITS;
  const view = new DataView(buffer);
  bits.forEach((b, u) => {
    for (let k = 0; k < 1 << b; k++, at += 4) view.setFloat32(at, u + k / (1 << b), true);
  });
  const bytes = new Uint8Array(buffer);
  bytes[at] = 0x80; // unit 0, plane 0 (high bit), value 0
  bytes[at + 1024 / 8] = 0x80; // unit 0, plane 1 (low bit), value 0
  return buffer;
}

test("wire v2: codes looked up per (channel, band), then the inverse Haar", () => {
  const buffer = v2Buffer();
  assert.equal(buffer.byteLength, wire2Size(new Uint8Array(WIRE2_UNITS).fill(1)) + 1024 / 8 + 8);
  const h = readSam2Header(buffer);
  assert.equal(h.version, 2);
  assert.equal(h.modelKey, "ab".repeat(16));
  assert.deepEqual(h.originalSize, [300, 451]);
  const f = decodeSam2Features(buffer);
  assert.deepEqual(f.high_res_feats_0.dims, [1, 32, 256, 256]);
  const e = f.image_embed.data;
  // Channel 0: LL 0.75 at band value 0 (code 3 of 0, 0.25, 0.5, 0.75), 0 elsewhere; LH, HL,
  // HH are units 1, 2, 3 at code 0: 1, 2, 3 everywhere.
  assert.deepEqual([e[0], e[1], e[64], e[65]], [(0.75 + 1 + 2 + 3) / 2, (0.75 - 1 + 2 - 3) / 2, (0.75 + 1 - 2 - 3) / 2, (0.75 - 1 - 2 + 3) / 2]);
  assert.deepEqual([e[2], e[3], e[66], e[67]], [3, -1, -2, 0]);
  // Channel 1: units 4..7.
  assert.deepEqual([e[4096], e[4097]], [(4 + 5 + 6 + 7) / 2, (4 - 5 + 6 - 7) / 2]);
  const last = f.high_res_feats_1.data;
  const u = WIRE2_UNITS - 4; // high_res_feats_1's last channel
  assert.equal(last[last.length - 1], (u - (u + 1) - (u + 2) + (u + 3)) / 2);
});

test("wire v2: truncated, oversized, foreign-version and corrupt files are refused", () => {
  const good = v2Buffer();
  assert.throws(() => readSam2Header(good.slice(0, good.byteLength - 1)), /bytes/);
  assert.throws(() => readSam2Header(good.slice(0, 10)), /too short/);
  const patch = (edit) => {
    const b = good.slice(0);
    edit(new DataView(b));
    return b;
  };
  assert.throws(() => readSam2Header(patch((v) => v.setUint8(0, 0x41))), /not SAM 2/);
  assert.throws(() => readSam2Header(patch((v) => v.setUint16(4, 3, true))), /unsupported version 3/);
  assert.throws(() => readSam2Header(patch((v) => v.setUint32(36, 12, true))), /bytes/);
  assert.throws(() => readSam2Header(patch((v) => v.setUint8(50, 1))), /reserved/);
  assert.throws(() => readSam2Header(patch((v) => v.setUint8(WIRE2_HEADER + 9, 0))), /bits must be/);
  assert.throws(() => readSam2Header(patch((v) => v.setUint8(WIRE2_HEADER + 9, 7))), /bits must be/);
  assert.throws(() => readSam2Header(patch((v) => v.setUint8(WIRE2_HEADER + 9, 2))), /their bits say/);
  assert.throws(() => readSam2Header(patch((v) => v.setFloat32(WIRE2_HEADER + WIRE2_UNITS + 4, NaN, true))), /NaN/);
  const big = v2Buffer(new Uint8Array(WIRE2_UNITS).fill(6));
  assert.ok(big.byteLength > WIRE2_MAX_BYTES);
  assert.throws(() => readSam2Header(big), /at most 2500000/);
});

test("wire v1 (files stored before version 2) is still read: per-channel tables, 4/5/4 bits", () => {
  const buffer = new ArrayBuffer(WIRE2_V1_BYTES);
  header(buffer, 1, WIRE2_V1_BYTES);
  const view = new DataView(buffer);
  // image_embed: table (256, 16) with level k of channel c = c + k / 16; first byte of its
  // nibble plane holds codes 15 and 2.
  for (let c = 0; c < 256; c++) for (let k = 0; k < 16; k++) view.setFloat32(WIRE2_HEADER + 4 * (16 * c + k), c + k / 16, true);
  const hiAt = WIRE2_HEADER + 4 * 256 * 16;
  view.setUint8(hiAt, 0xf2);
  view.setUint8(hiAt + 4096 / 2, 0x10); // channel 1, values 0 and 1: codes 1 and 0
  const f = decodeSam2Features(buffer);
  assert.equal(readSam2Header(buffer).version, 1);
  assert.deepEqual(Array.from(f.image_embed.data.subarray(0, 3)), [15 / 16, 2 / 16, 0]);
  assert.deepEqual(Array.from(f.image_embed.data.subarray(4096, 4098)), [1 + 1 / 16, 1]);
  assert.throws(() => readSam2Header(buffer.slice(0, WIRE2_V1_BYTES - 4)), /bytes/);
  assert.equal(WIRE2_V1_BYTES, 2383936);
});
