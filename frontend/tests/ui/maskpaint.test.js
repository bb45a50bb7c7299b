import { test } from "node:test";
import assert from "node:assert/strict";
import { upsampleMask } from "../../src/decoder/upsample.js";
import { upsampleSam2Mask } from "../../src/decoder/sam2.js";

// ImageData is a browser class; a minimal stand-in is enough for the pixel maths.
globalThis.ImageData ??= class {
  constructor(w, h) {
    this.width = w;
    this.height = h;
    this.data = new Uint8ClampedArray(w * h * 4);
  }
};
const { logitsToImageData } = await import("../../src/ui/maskpaint.js");

test("the hover overlay agrees with the exact full-resolution mask on all but edge pixels", () => {
  const low = new Float32Array(256 * 256);
  for (let y = 0; y < 256; y++) for (let x = 0; x < 256; x++) low[y * 256 + x] = 30 - Math.hypot(x - 120, y - 70) + 3 * Math.sin(x / 5);
  for (const [h, w] of [[300, 451], [427, 640], [1500, 1000]]) {
    const exact = upsampleMask(low, h, w);
    const img = logitsToImageData(low, h, w, [255, 0, 0, 255]);
    if (img.width !== w) continue; // large images are drawn in the 1024 frame
    let differ = 0;
    let inside = 0;
    for (let i = 0; i < h * w; i++) {
      const ours = img.data[4 * i + 3] > 0 ? 1 : 0;
      differ += ours !== exact[i];
      inside += exact[i];
    }
    assert.ok(inside > 100);
    assert.ok(differ / inside < 0.02, `${h}x${w}: ${differ} of ${inside} differ`);
  }
});

test("a SAM 2 hover overlay stretches the whole low-res grid over the image, as its exact mask does", () => {
  // A disc low in the grid (row 200 of 256): SAM 1's mapping of a landscape image would cut it off.
  const low = new Float32Array(256 * 256);
  for (let y = 0; y < 256; y++) for (let x = 0; x < 256; x++) low[y * 256 + x] = 25 - Math.hypot(x - 128, y - 200);
  const [h, w] = [300, 451];
  const exact = upsampleSam2Mask(low, h, w);
  const img = logitsToImageData(low, h, w, [255, 0, 0, 255], { stretch: true });
  let inside = 0;
  for (let i = 0; i < h * w; i++) {
    assert.equal(img.data[4 * i + 3] > 0 ? 1 : 0, exact[i], `pixel ${i}`);
    inside += exact[i];
  }
  assert.ok(inside > 1000);
  const sam1 = logitsToImageData(low, h, w, [255, 0, 0, 255]);
  let sam1Inside = 0;
  for (let i = 0; i < h * w; i++) sam1Inside += sam1.data[4 * i + 3] > 0 ? 1 : 0;
  assert.ok(sam1Inside < inside / 10, "SAM 1's mapping would show another region");
});
