// The hover atlas reader (src/decoder/atlas.js) on an atlas written by the Python writer
// (fixtures/atlas_small.*, from tests/export_onnx/test_atlas_format.py: fixture_atlas), and on
// every way a bad atlas must be refused. The cross-check on a real model's atlas is
// tests/sam/test_atlas.py (it runs tests/atlas_dump.mjs).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { deflateSync, inflateSync } from "node:zlib";
import { AtlasError, NO_MASK, parseAtlas, readAtlasHeader } from "../src/decoder/atlas.js";

const here = new URL("./fixtures/", import.meta.url);
const expected = JSON.parse(readFileSync(new URL("atlas_small.json", here), "utf8"));
const KEY = expected.modelKey;

function fixtureBuffer() {
  const bytes = readFileSync(new URL("atlas_small.bin", here));
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
}

// The fixture with header fields changed and/or another (validly deflated) payload.
function rebuild({ payload = null, u16 = {}, u32 = {} } = {}) {
  const src = new Uint8Array(fixtureBuffer());
  const body = payload ?? inflateSync(src.subarray(64));
  const packed = deflateSync(body);
  const out = new Uint8Array(64 + packed.length);
  out.set(src.subarray(0, 64));
  out.set(packed, 64);
  const view = new DataView(out.buffer);
  view.setUint32(44, body.length, true);
  view.setUint32(48, packed.length, true);
  for (const [at, v] of Object.entries(u16)) view.setUint16(Number(at), v, true);
  for (const [at, v] of Object.entries(u32)) view.setUint32(Number(at), v, true);
  return out.buffer;
}

function fixturePayload() {
  return new Uint8Array(inflateSync(new Uint8Array(fixtureBuffer()).subarray(64)));
}

test("the Python-written atlas parses to exactly what the writer stored", async () => {
  const atlas = await parseAtlas(fixtureBuffer(), { modelKey: KEY });
  assert.equal(atlas.modelKey, expected.modelKey);
  assert.deepEqual(atlas.originalSize, expected.originalSize);
  assert.deepEqual(atlas.grid, expected.grid);
  assert.deepEqual(atlas.maskSize, expected.maskSize);
  assert.deepEqual(Array.from(atlas.index), expected.index);
  assert.deepEqual(Array.from(atlas.predictedIou), expected.predictedIou.map(Math.fround));
  assert.deepEqual(Array.from(atlas.stability), expected.stability.map(Math.fround));
  assert.deepEqual(Array.from(atlas.boxes), expected.boxes);
  assert.equal(atlas.count, expected.masks.length);
  expected.masks.forEach((bits, id) => assert.equal(atlas.mask(id).join(""), bits));
});

test("maskAt answers the cell under a point in image pixels, -1 outside or on an empty cell", async () => {
  const atlas = await parseAtlas(fixtureBuffer());
  // 30x45 image, 2x3 grid: cells are 15 px square; index [[0, 1, NO], [2, 3, 0]].
  assert.equal(expected.index[2], NO_MASK);
  assert.equal(atlas.maskAt(0, 0), 0);
  assert.equal(atlas.maskAt(14.99, 14.99), 0);
  assert.equal(atlas.maskAt(15, 0), 1);
  assert.equal(atlas.maskAt(40, 5), -1);
  assert.equal(atlas.maskAt(0, 15), 2);
  assert.equal(atlas.maskAt(44.9, 29.9), 0);
  for (const [x, y] of [[-0.1, 3], [45, 3], [3, 30], [Number.NaN, 3]]) assert.equal(atlas.maskAt(x, y), -1);
  assert.deepEqual(atlas.cellAt(20, 20), [1, 1]);
});

test("paint fills the mask's pixels with the colour and leaves the rest transparent", async () => {
  const atlas = await parseAtlas(fixtureBuffer());
  const [h, w] = atlas.maskSize;
  for (let id = 0; id < atlas.count; id++) {
    const data = atlas.paint(id, [10, 20, 30, 128]);
    assert.equal(data.length, h * w * 4);
    const bits = expected.masks[id];
    for (let p = 0; p < h * w; p++) {
      const rgba = Array.from(data.subarray(4 * p, 4 * p + 4));
      assert.deepEqual(rgba, bits[p] === "1" ? [10, 20, 30, 128] : [0, 0, 0, 0]);
    }
  }
  // Reusing the buffer of a bigger mask clears what that mask painted.
  const full = atlas.paint(3, [1, 2, 3, 4]);
  const again = atlas.paint(2, [1, 2, 3, 4], full);
  assert.equal(again, full);
  assert.equal(Array.from(again).filter((v, i) => i % 4 === 3 && v).length, expected.masks[2].split("1").length - 1);
  assert.throws(() => atlas.paint(4, [0, 0, 0, 0]), AtlasError);
});

test("boxes come back in image pixels", async () => {
  const atlas = await parseAtlas(fixtureBuffer());
  // Mask 0's box [3, 2, 9, 6] in 10x15 stored pixels of a 30x45 image (3x).
  assert.deepEqual(atlas.maskBox(0), [9, 6, 27, 18]);
});

test("proposals rank by predicted IoU then stability and drop overlapping ones", async () => {
  const atlas = await parseAtlas(fixtureBuffer());
  // IoU 0.9 (stability 0.95 before 0.7), then 0.5, then 0.1; nothing overlaps above 0.7.
  assert.deepEqual(atlas.proposals(), [2, 1, 0, 3]);
  assert.deepEqual(atlas.proposals({ minIou: 0.4 }), [2, 1, 0]);
  assert.deepEqual(atlas.proposals({ minStability: 0.9 }), [2, 3]);
  // The full mask overlaps every other one: with a low bar it survives only when ranked first.
  assert.deepEqual(atlas.proposals({ maxOverlap: 0.05 }), [2, 1, 0]);
});

async function refused(buffer, pattern, options = {}) {
  await assert.rejects(parseAtlas(buffer, options), (err) => err instanceof AtlasError && pattern.test(err.message));
}

test("an atlas of another model is refused", async () => {
  await refused(fixtureBuffer(), /another model/, { modelKey: "00".repeat(16) });
});

test("truncated, padded, foreign or corrupt bytes are refused with a clear error", async () => {
  const good = fixtureBuffer();
  await refused(good.slice(0, 40), /too short/);
  await refused(good.slice(0, good.byteLength - 1), /header says/);
  const longer = new Uint8Array(good.byteLength + 1);
  longer.set(new Uint8Array(good));
  await refused(longer.buffer, /header says/);
  const magic = new Uint8Array(good.slice(0));
  magic[3] = "E".charCodeAt(0);
  await refused(magic.buffer, /not a hover atlas/);
  await refused(rebuild({ u16: { 4: 2 } }), /version 2/);
  for (const at of [100, good.byteLength - 2]) {
    const flipped = new Uint8Array(good.slice(0));
    flipped[at] ^= 0x10;
    await refused(flipped.buffer, /corrupt|inflates/);
  }
  assert.throws(() => readAtlasHeader(new Uint8Array(64)), AtlasError);
});

test("header shapes outside the limits, or a payload size they cannot explain, are refused", async () => {
  await refused(rebuild({ u16: { 32: 300 } }), /grid/);
  await refused(rebuild({ u16: { 36: 2000 } }), /mask size/);
  await refused(rebuild({ u32: { 40: 7 } }), /masks for 6 cells/);
  await refused(rebuild({ u32: { 44: 1 << 30 } }), /cannot hold/);
  // The payload inflates to more than the header promised: stopped, not buffered.
  const payload = fixturePayload();
  await refused(rebuild({ payload, u32: { 44: payload.length - 1 } }), /more than/);
});

test("a payload that inflates but does not add up is refused", async () => {
  const payload = fixturePayload();
  const index = payload.slice();
  new DataView(index.buffer).setUint16(0, 9, true);
  await refused(rebuild({ payload: index }), /past the masks/);
  await refused(rebuild({ payload: payload.slice(0, -1) }), /runs end early/);
  const extra = new Uint8Array(payload.length + 1);
  extra.set(payload);
  extra[payload.length] = 5;
  await refused(rebuild({ payload: extra }), /after the last mask/);
  const box = payload.slice();
  // Boxes start after the 6-cell index (12 bytes) and 4 masks' two scores (32 bytes): mask 0's
  // y0 becomes 10, past its y1 of 6.
  new DataView(box.buffer).setUint16(12 + 32 + 2, 10, true);
  await refused(rebuild({ payload: box }), /box/);
});
