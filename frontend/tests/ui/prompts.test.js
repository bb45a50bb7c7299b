// Tab cycles the candidates of one decode: the masks and scores kept with the result, no new decode.
import assert from "node:assert/strict";
import { test } from "node:test";
import * as P from "../../src/ui/prompts.js";

const N = 256 * 256;

function decoded({ multimask = true, chosen = 2 } = {}) {
  const masks = new Float32Array(4 * N);
  for (let k = 0; k < 4; k++) masks.fill(k + 1, k * N, (k + 1) * N); // candidate k is all k + 1
  const scores = Float32Array.of(0.1, 0.2, 0.9, 0.4);
  const state = P.addPoint(P.EMPTY, 10, 20, 1);
  const result = { lowRes: masks.slice(chosen * N, (chosen + 1) * N), masks, scores, chosen, multimask, points: state.points, box: state.box };
  return { ...state, result };
}

test("Tab and Shift+Tab go round the three multimask candidates, scores untouched", () => {
  const s = decoded();
  const order = [];
  let t = s;
  for (let i = 0; i < 3; i++) {
    t = P.cycleCandidate(t, 1);
    order.push(t.result.chosen);
    assert.equal(t.result.lowRes[0], t.result.chosen + 1);
    assert.equal(t.result.scores, s.result.scores);
  }
  assert.deepEqual(order, [3, 1, 2]);
  assert.equal(P.cycleCandidate(s, -1).result.chosen, 1);
  assert.equal(P.cycleCandidate(P.cycleCandidate(s, -1), 1).result.chosen, 2);
});

test("a single-mask result, or one without kept masks, has nothing to cycle", () => {
  const single = decoded({ multimask: false, chosen: 0 });
  assert.equal(P.cycleCandidate(single, 1), single);
  const bare = { ...decoded(), result: { ...decoded().result, masks: null } };
  assert.equal(P.cycleCandidate(bare, 1), bare);
  assert.equal(P.cycleCandidate(P.EMPTY, 1), P.EMPTY);
});

test("while a new click is decoding, the previous result is not cycled", () => {
  const clicked = P.addPoint(decoded(), 30, 40, 1); // still carries the first click's result
  assert.equal(P.cycleCandidate(clicked, 1), clicked);
});

test("refining feeds the chosen candidate's logits back, and asks for every candidate", () => {
  const s = P.cycleCandidate(decoded(), 1); // candidate 3
  const request = P.decodeRequest(P.addPoint(s, 30, 40, 0));
  assert.equal(request.maskInput.length, N);
  assert.ok(request.maskInput.every((v) => v === 4));
  assert.equal(request.multimask, false);
  assert.equal(request.candidates, true);
  assert.equal(P.decodeRequest(P.addPoint(P.EMPTY, 1, 2, 1)).maskInput, null);
});
