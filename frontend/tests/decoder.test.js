// Unit tests of the decoder's pure modules: node --test tests/ (npm test).
import assert from "node:assert/strict";
import { test } from "node:test";
import { buildPromptTensors, buildReferenceFeeds, chooseMask, resizedSize, transformCoords, wireTensors } from "../src/decoder/feeds.js";
import { bilinearTaps, upsampleLogits, upsampleMask } from "../src/decoder/upsample.js";

test("resizedSize follows ResizeLongestSide (int(x * 1024 / max + 0.5))", () => {
  assert.deepEqual(resizedSize(300, 451), [681, 1024]);
  assert.deepEqual(resizedSize(427, 640), [683, 1024]);
  assert.deepEqual(resizedSize(1024, 1024), [1024, 1024]);
  assert.deepEqual(resizedSize(1500, 700), [1024, 478]);
});

test("coordinates scale per axis by new/old size", () => {
  const out = transformCoords([[100, 50]], 300, 451);
  assert.ok(Math.abs(out[0] - Math.fround((100 * 1024) / 451)) < 1e-4);
  assert.ok(Math.abs(out[1] - Math.fround((50 * 681) / 300)) < 1e-4);
});

test("points without a box get a padding point labelled -1", () => {
  const t = buildPromptTensors({ points: [[10, 20]], labels: [1], origSize: [300, 451] });
  assert.deepEqual(t.point_coords.dims, [1, 2, 2]);
  assert.deepEqual(Array.from(t.point_labels.data), [1, -1]);
  assert.equal(t.point_coords.data[2], 0);
  assert.equal(t.point_coords.data[3], 0);
});

test("a box becomes two corners labelled 2 and 3 after the points, corners sorted", () => {
  const t = buildPromptTensors({ points: [[10, 20]], labels: [0], box: [40, 30, 10, 5], origSize: [300, 451] });
  assert.deepEqual(Array.from(t.point_labels.data), [0, 2, 3]);
  const c = t.point_coords.data;
  assert.ok(c[2] < c[4] && c[3] < c[5]);
  const only = buildPromptTensors({ box: [1, 2, 3, 4], origSize: [10, 10] });
  assert.deepEqual(Array.from(only.point_labels.data), [2, 3]);
});

test("reference feeds carry mask input, flag and orig_im_size", () => {
  const f = buildReferenceFeeds({ points: [[1, 1]], labels: [1], origSize: [300, 451] });
  assert.equal(f.mask_input.data.length, 256 * 256);
  assert.equal(f.has_mask_input.data[0], 0);
  assert.deepEqual(Array.from(f.orig_im_size.data), [300, 451]);
  const m = buildReferenceFeeds({ points: [[1, 1]], labels: [1], origSize: [3, 4], maskInput: new Float32Array(65536) });
  assert.equal(m.has_mask_input.data[0], 1);
});

test("chooseMask: token 0 for single, best of 1..3 for multimask", () => {
  assert.equal(chooseMask(Float32Array.of(9, 0.1, 0.7, 0.3), false), 0);
  assert.equal(chooseMask(Float32Array.of(9, 0.1, 0.7, 0.3), true), 2);
});

test("bilinear taps follow align_corners=False with clamping", () => {
  const t = bilinearTaps(256, 1024);
  assert.equal(t.i0[0], 0);
  assert.equal(t.w1[0], 0); // src = 0.125 - 0.5 < 0 -> clamped to 0
  assert.equal(t.i0[1023], 255);
  assert.equal(t.i1[1023], 255);
  const d = bilinearTaps(256, 1024).w1[6]; // src = 6.5 / 4 - 0.5 = 1.125
  assert.ok(Math.abs(d - 0.125) < 1e-6);
});

test("upsampling keeps constants, has the original size and crops the padding", () => {
  const low = new Float32Array(256 * 256).fill(2.5);
  const up = upsampleLogits(low, 300, 451);
  assert.equal(up.length, 300 * 451);
  assert.ok(up.every((v) => Math.abs(v - 2.5) < 1e-6));
  // Logits only in the padded bottom rows (beyond the resized 681 of 1024) never reach the image.
  const padded = new Float32Array(256 * 256).fill(-1);
  for (let y = 176; y < 256; y++) for (let x = 0; x < 256; x++) padded[y * 256 + x] = 10;
  const mask = upsampleMask(padded, 300, 451);
  assert.equal(mask.reduce((a, b) => a + b, 0), 0);
});

test("wire tensors are views of the buffer with the header checked", () => {
  const c = 2, h = 2, w = 2;
  const buf = new ArrayBuffer(64 + 8 * c + c * h * w);
  const view = new DataView(buf);
  [..."SAME"].forEach((ch, i) => view.setUint8(i, ch.charCodeAt(0)));
  view.setUint16(4, 1, true);
  view.setUint16(6, 1, true);
  view.setUint32(8, c, true);
  view.setUint32(12, h, true);
  view.setUint32(16, w, true);
  view.setUint32(20, 64, true);
  view.setUint32(40, 300, true);
  view.setUint32(44, 451, true);
  const t = wireTensors(buf);
  assert.deepEqual(t.originalSize, [300, 451]);
  assert.deepEqual(t.tensors.embedding_q.dims, [1, 2, 2, 2]);
  assert.equal(t.tensors.embedding_q.data.buffer, buf);
  assert.throws(() => wireTensors(buf.slice(0, 70)), /bytes/);
});
