import { test } from "node:test";
import assert from "node:assert/strict";
import { MAX_PHRASES, foundText, parsePhrases, statusText } from "../../src/ui/find.js";

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
