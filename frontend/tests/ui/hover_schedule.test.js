// When the hover sends exact decodes with and without an atlas (src/ui/hover_schedule.js), on a
// fake clock: the atlas paints at once, the exact decode waits for the cursor to rest, and a late
// exact answer never replaces the mask of a region the cursor has left.
import assert from "node:assert/strict";
import { test } from "node:test";
import { HoverSchedule } from "../../src/ui/hover_schedule.js";

// Atlas stand-in: the left half of a 100x100 image is mask 0, x in 50..79 mask 1, x >= 80 none.
const atlas = { maskAt: (x) => (x < 50 ? 0 : x < 80 ? 1 : -1) };

function harness({ withAtlas = true } = {}) {
  let now = 0;
  const timers = new Map();
  let next = 1;
  const painted = [];
  const sent = [];
  const schedule = new HoverSchedule({
    restMs: 60,
    setTimer: (fn, ms) => (timers.set(next, { at: now + ms, fn }), next++),
    clearTimer: (id) => timers.delete(id),
    paintAtlas: (id, t) => painted.push({ id, t }),
    decodeExact: (x, y, t, ticket) => sent.push({ x, y, t, ticket }),
  });
  if (withAtlas) schedule.setAtlas(atlas);
  const advance = (ms) => {
    now += ms;
    for (const [id, timer] of [...timers]) {
      if (timer.at <= now) {
        timers.delete(id);
        timer.fn();
      }
    }
  };
  const move = (x, y) => schedule.move(x, y, now);
  return { schedule, painted, sent, advance, move };
}

test("without an atlas every move is decoded at once, as before", () => {
  const h = harness({ withAtlas: false });
  for (let x = 0; x < 10; x++) h.move(x, 5);
  assert.equal(h.sent.length, 10);
  assert.equal(h.painted.length, 0);
  assert.ok(h.schedule.mayPaintExact(h.sent.at(-1).ticket));
});

test("a moving cursor paints the atlas at once and sends no decode until it rests", () => {
  const h = harness();
  for (let x = 0; x < 40; x += 2) {
    h.move(x, 5);
    h.advance(16);
  }
  assert.deepEqual(h.painted.map((p) => p.id), [0]); // one region: painted once
  assert.deepEqual(h.sent.map((s) => s.x), [0]); // only the motion's first move
  h.advance(60);
  assert.equal(h.sent.length, 2);
  assert.deepEqual([h.sent[1].x, h.sent[1].t], [38, 19 * 16]); // the last move, timed from it
});

test("a move after a rest is decoded at once, with no rest wait", () => {
  const h = harness();
  h.move(10, 5);
  h.advance(500); // resting: the cursor's first move was decoded already, no timer left
  assert.equal(h.sent.length, 1);
  h.move(30, 5); // a jump, as a cursor that lands somewhere and stays
  assert.deepEqual(h.sent.map((s) => [s.x, s.t]), [[10, 0], [30, 500]]);
  h.advance(100);
  assert.equal(h.sent.length, 2); // no second decode of the same resting point
  h.move(32, 5);
  h.advance(16);
  h.move(34, 5); // moving again, 16 ms apart: waits for the rest
  assert.equal(h.sent.length, 3);
  h.advance(60);
  assert.deepEqual(h.sent.at(-1).x, 34);
});

test("entering another region paints its atlas mask in the same call", () => {
  const h = harness();
  h.move(10, 5);
  h.move(60, 5);
  assert.deepEqual(h.painted.map((p) => p.id), [0, 1]);
});

test("the exact answer replaces the atlas only while the cursor is in the region it was asked for", () => {
  const h = harness();
  h.move(10, 5);
  const ticket = h.sent[0].ticket;
  assert.ok(h.schedule.mayPaintExact(ticket));
  h.move(60, 5); // left for mask 1 before the answer came
  assert.equal(h.schedule.mayPaintExact(ticket), false);
  h.move(20, 5); // back in mask 0's region: the exact mask of that region is fine again
  assert.ok(h.schedule.mayPaintExact(ticket));
});

test("after the exact mask is shown, moving inside its region keeps it", () => {
  const h = harness();
  h.move(10, 5);
  h.advance(60);
  h.schedule.exactPainted(h.sent[0].ticket);
  h.move(12, 5);
  assert.equal(h.painted.length, 1); // no atlas repaint over the exact mask
  h.move(60, 5);
  assert.equal(h.painted.length, 2);
});

test("over a cell without an atlas mask the decode is sent at once", () => {
  const h = harness();
  h.move(90, 5);
  assert.equal(h.sent.length, 1);
  assert.equal(h.painted.length, 0);
  assert.ok(h.schedule.mayPaintExact(h.sent[0].ticket));
  h.move(10, 5); // into an atlas region: the late no-atlas answer must not cover the atlas mask
  assert.equal(h.schedule.mayPaintExact(h.sent[0].ticket), false);
});

test("reset drops a pending rest decode", () => {
  const h = harness();
  h.move(10, 5);
  h.advance(16);
  h.move(12, 5);
  h.schedule.reset();
  h.advance(100);
  assert.equal(h.sent.length, 1); // the first move's, nothing at rest
});
