// Unit tests of the SAM 2.1 decoder helpers (src/decoder/sam2.js): node --test tests/.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  WIRE2_BYTES,
  WIRE2_HEADER,
  WIRE2_TENSORS,
  buildSam2PromptTensors,
  chooseSam2Mask,
  clampLowRes,
  sam2WireTensors,
  upsampleSam2Logits,
  upsampleSam2Mask,
} from "../src/decoder/sam2.js";

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

function wireBuffer() {
  const buffer = new ArrayBuffer(WIRE2_BYTES);
  const view = new DataView(buffer);
  new Uint8Array(buffer, 0, 4).set([..."SAM2"].map((c) => c.charCodeAt(0)));
  view.setUint16(4, 1, true);
  view.setUint16(6, WIRE2_TENSORS.length, true);
  new Uint8Array(buffer, 8, 16).fill(0xab);
  view.setUint32(24, 300, true);
  view.setUint32(28, 451, true);
  view.setUint32(32, WIRE2_HEADER, true);
  view.setUint32(36, WIRE2_BYTES, true);
  return buffer;
}

test("wire tensors are views named as unpack.onnx's inputs, the header checked", () => {
  const buffer = wireBuffer();
  const w = sam2WireTensors(buffer);
  assert.equal(WIRE2_BYTES, 2383936);
  assert.equal(w.modelKey, "ab".repeat(16));
  assert.deepEqual(w.originalSize, [300, 451]);
  assert.deepEqual(Object.keys(w.tensors), [
    "image_embed_table", "image_embed_hi", "high_res_feats_0_table", "high_res_feats_0_hi",
    "high_res_feats_0_lo", "high_res_feats_1_table", "high_res_feats_1_hi",
  ]);
  assert.deepEqual(w.tensors.high_res_feats_0_table.dims, [32, 32]);
  assert.equal(w.tensors.high_res_feats_0_lo.data.length, (32 * 256 * 256) / 8);
  assert.equal(w.tensors.image_embed_hi.data.buffer, buffer, "a view, not a copy");
  assert.throws(() => sam2WireTensors(buffer.slice(0, WIRE2_BYTES - 1)), /bytes/);
  assert.throws(() => sam2WireTensors(buffer.slice(0, 10)), /too short/);
  const magic = wireBuffer();
  new Uint8Array(magic, 0, 4).set([83, 65, 77, 69]); // "SAME": a SAM 1 embedding
  assert.throws(() => sam2WireTensors(magic), /not SAM 2/);
  const version = wireBuffer();
  new DataView(version).setUint16(4, 2, true);
  assert.throws(() => sam2WireTensors(version), /unsupported/);
  const total = wireBuffer();
  new DataView(total).setUint32(36, 12, true);
  assert.throws(() => sam2WireTensors(total), /bytes/);
});
