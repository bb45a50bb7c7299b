import { test } from "node:test";
import assert from "node:assert/strict";
import { MAX_PHRASES, foundText, parsePhrases, statusText, textJobParams } from "../../src/ui/find.js";

test("phrases are split on commas, spaces folded, repeats and blanks dropped", () => {
  assert.deepEqual(parsePhrases(" cup, red   mug,, Cup ,"), { phrases: ["cup", "red mug"] });
});

test("nothing, too many or too long phrases are refused in words", () => {
  assert.match(parsePhrases(" , ").error, /type what to find/);
  const many = Array.from({ length: MAX_PHRASES + 1 }, (_, i) => `thing ${i}`).join(",");
  assert.match(parsePhrases(many).error, /at most 16 phrases/);
  assert.match(parsePhrases("x".repeat(101)).error, /longer than 100/);
});

test("a job's summary reads as a short count per phrase", () => {
  assert.equal(foundText({ found: { cup: 3 } }), "3 found for 'cup'");
  assert.equal(foundText({ found: { cup: 3, dog: 0 } }), "3 found for 'cup', none for 'dog'");
  assert.equal(foundText({ found: { cup: 0 } }), "none for 'cup'");
  assert.equal(foundText({}), "nothing found");
});

test("the status names the engine, or why there is none", () => {
  const ok = { available: true, engine: "sam3", engines: { sam3: { model: "facebook/sam3" } } };
  assert.equal(statusText(ok), "engine: sam3 (facebook/sam3)");
  assert.equal(statusText({ available: false, reason: "no worker" }), "text prompts unavailable: no worker");
});

test("the Jobs page's text form becomes the text-jobs body, defaults left to the server", () => {
  assert.deepEqual(textJobParams({ text: "boat, buoy", statuses: ["new", "in_progress"] }), {
    params: { phrases: ["boat", "buoy"], mode: "proposals", status: ["new", "in_progress"] },
  });
  // A selection wins over statuses; score and label only count for annotations.
  assert.deepEqual(textJobParams({ text: "cup", engine: "sam3", statuses: ["new"], imageIds: [4, 7], minScore: "0.9", label: "3" }), {
    params: { phrases: ["cup"], mode: "proposals", engine: "sam3", image_ids: [4, 7] },
  });
  assert.deepEqual(textJobParams({ text: "cup", mode: "annotations", minScore: "0.7", label: "3" }), {
    params: { phrases: ["cup"], mode: "annotations", min_score: 0.7, label: 3 },
  });
  assert.deepEqual(textJobParams({ text: "cup", mode: "annotations" }).params, { phrases: ["cup"], mode: "annotations" });
  assert.match(textJobParams({ text: "cup", mode: "annotations", minScore: "2" }).error, /the score is a number from 0 to 1/);
  // The engines' thresholds, in either mode; empty leaves the server's default.
  assert.deepEqual(textJobParams({ text: "cup", scoreThreshold: "0.4", maskThreshold: "0.6" }).params, {
    phrases: ["cup"], mode: "proposals", score_threshold: 0.4, mask_threshold: 0.6,
  });
  assert.match(textJobParams({ text: "cup", maskThreshold: "-1" }).error, /the mask threshold is a number from 0 to 1/);
  assert.match(textJobParams({ text: " , " }).error, /type what to find/);
});
