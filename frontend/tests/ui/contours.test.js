import { test } from "node:test";
import assert from "node:assert/strict";
import { maskToPolygons, ringArea, ringCrosses, simplifyRing } from "../../src/ui/contours.js";

function fromRows(rows) {
  const h = rows.length;
  const w = rows[0].length;
  const mask = new Uint8Array(w * h);
  rows.forEach((r, y) => [...r].forEach((c, x) => (mask[y * w + x] = c === "#" ? 1 : 0)));
  return { mask, w, h };
}

// Even-odd test at pixel centres: what a pixel-corner rasteriser fills.
function inside(rings, x, y) {
  let c = false;
  for (const ring of rings) {
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const [xi, yi] = ring[i];
      const [xj, yj] = ring[j];
      if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) c = !c;
    }
  }
  return c;
}

function rasterise(polygons, w, h) {
  const out = new Uint8Array(w * h);
  for (const p of polygons) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) if (inside([p.outer, ...p.holes], x + 0.5, y + 0.5)) out[y * w + x] = 1;
    }
  }
  return out;
}

test("a single pixel is the ring around its corners", () => {
  const { mask, w, h } = fromRows(["...", ".#.", "..."]);
  const polys = maskToPolygons(mask, w, h, { tolerance: 0 });
  assert.equal(polys.length, 1);
  assert.deepEqual(polys[0].outer, [[1, 1], [2, 1], [2, 2], [1, 2]]);
  assert.equal(ringArea(polys[0].outer), 1);
});

test("a ring with a hole gives one polygon with one hole", () => {
  const { mask, w, h } = fromRows(["#####", "#...#", "#.#.#", "#...#", "#####"]);
  const polys = maskToPolygons(mask, w, h, { tolerance: 0 });
  assert.equal(polys.length, 2); // the frame and the island in its hole
  const frame = polys.find((p) => p.holes.length === 1);
  assert.ok(frame);
  assert.equal(ringArea(frame.outer), 25);
  assert.equal(ringArea(frame.holes[0]), -9);
});

test("diagonal pixels are one part (8-connected)", () => {
  const { mask, w, h } = fromRows(["#.", ".#"]);
  const polys = maskToPolygons(mask, w, h, { tolerance: 0 });
  assert.equal(polys.length, 1);
  assert.equal(ringArea(polys[0].outer), 2);
});

test("random masks round-trip exactly at tolerance 0", () => {
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let k = 0; k < 30; k++) {
    const w = 5 + Math.floor(rand() * 20);
    const h = 5 + Math.floor(rand() * 20);
    const mask = new Uint8Array(w * h).map(() => (rand() < 0.5 ? 1 : 0));
    const polys = maskToPolygons(mask, w, h, { tolerance: 0 });
    assert.deepEqual(rasterise(polys, w, h), mask, `mask ${k}`);
  }
});

test("simplification keeps a ring's shape within tolerance", () => {
  const ring = [];
  for (let i = 0; i < 100; i++) ring.push([i, i % 2 ? 0.3 : 0]);
  ring.push([99, 50], [0, 50]);
  const simple = simplifyRing(ring, 1);
  assert.ok(simple.length <= 6, `got ${simple.length} vertices`);
});

test("ringCrosses finds edges that cut each other, not ones that touch", () => {
  assert.equal(ringCrosses([[0, 0], [10, 0], [10, 10], [0, 10]]), false);
  assert.equal(ringCrosses([[4, 4], [40, 40], [40, 4], [4, 24]]), true); // a bow tie
  // Two squares meeting at a corner, traced as one ring through the shared corner.
  assert.equal(ringCrosses([[0, 0], [1, 0], [1, 1], [2, 1], [2, 2], [1, 2], [1, 1], [0, 1]]), false);
});

test("simplified rings never cross themselves (the server refuses those)", () => {
  // Blobs and thin diagonal strokes, like SAM's masks; at tolerance 3-5 plain Douglas-Peucker
  // folds a few of these over themselves.
  let seed = 1;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const W = 160;
  const H = 120;
  let checked = 0;
  for (let k = 0; k < 120; k++) {
    const mask = new Uint8Array(W * H);
    const n = 1 + Math.floor(rnd() * 6);
    for (let j = 0; j < n; j++) {
      const cx = rnd() * W;
      const cy = rnd() * H;
      const r = 2 + rnd() * 30;
      const thin = rnd() < 0.3;
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          const dx = x - cx;
          const dy = y - cy;
          const hit = thin
            ? Math.abs(dy - dx * 0.7) < 1.2 && Math.abs(dx) < r * 2
            : dx * dx + dy * dy * (0.3 + rnd() * 0.05) < r * r;
          if (hit) mask[y * W + x] = 1;
        }
      }
    }
    for (const tolerance of [3, 5]) {
      for (const p of maskToPolygons(mask, W, H, { tolerance })) {
        for (const ring of [p.outer, ...p.holes]) {
          assert.equal(ringCrosses(ring), false, `mask ${k}, tolerance ${tolerance}`);
          checked++;
        }
      }
    }
  }
  assert.ok(checked > 240);
});
