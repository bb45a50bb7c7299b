// The annotation page keeps one state object, declared in full by createState(): a field that a
// module writes without declaring it there is the kind of surprise the page was restructured to
// end. These tests read the page's sources, so a new undeclared field fails here, not in review.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { createState } from "../../src/annotate/state.js";

const src = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "src");
const annotateDir = join(src, "annotate");
const sources = [
  ...readdirSync(annotateDir).filter((f) => f.endsWith(".js")).map((f) => join(annotateDir, f)),
  join(src, "pages", "annotate.js"),
].map((path) => ({ path, text: readFileSync(path, "utf8") }));

// Fields named as `state.x` or as keys of `Object.assign(state, {...})`, comments left out.
function fieldsUsed(source) {
  const text = source.replace(/\/\/.*$/gm, "");
  const found = new Set([...text.matchAll(/(?<![\w./])state\.(\w+)/g)].map((m) => m[1]));
  for (const [, body] of text.matchAll(/Object\.assign\(state,\s*\{([^}]*)\}/g)) {
    for (const part of body.split(",")) found.add(part.split(":")[0].trim());
  }
  return found;
}

test("every state field the page uses is declared by createState", () => {
  const declared = new Set(Object.keys(createState({ projectId: 1 })));
  for (const { path, text } of sources) {
    const missing = [...fieldsUsed(text)].filter((f) => !declared.has(f));
    assert.deepEqual(missing, [], `${path} uses undeclared state fields`);
  }
});

test("createState declares each field with a value, and a fresh object every time", () => {
  const a = createState({ projectId: 7 });
  const b = createState({ projectId: 7 });
  assert.equal(a.projectId, 7);
  for (const [key, value] of Object.entries(a)) assert.notEqual(value, undefined, key);
  assert.notEqual(a.labels, b.labels);
  assert.notEqual(a.neighbours, b.neighbours);
});

test("the page's modules keep no state of their own at module level", () => {
  for (const { path, text } of sources) {
    const globals = text.split("\n").filter((line) => /^(let|var)\s/.test(line));
    assert.deepEqual(globals, [], `${path} has module-level mutable state`);
  }
});
