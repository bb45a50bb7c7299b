// The pure parts of the shapes: a box from two corners or from an edited outline, and the keys
// (R picks the Box tool, M turns the selected box into a mask, Shift+digit toggles a tag).
import assert from "node:assert/strict";
import { test } from "node:test";
import { boundsOf, spanned } from "../../src/annotate/box_tool.js";
import { actionFor, KEYS } from "../../src/ui/keys.js";

test("a box spans two corners in any order, in hundredths of a pixel", () => {
  assert.deepEqual(spanned([30, 40], [10.004, 5]), [10, 5, 20, 35]);
  assert.deepEqual(spanned([1, 2], [3, 4]), [1, 2, 2, 2]);
});

test("an edited box keeps the bounds of its outline", () => {
  const moved = [{ outer: [[12, 7], [32, 7], [32, 17], [12, 17]], holes: [] }];
  assert.deepEqual(boundsOf(moved), [12, 7, 20, 10]);
  const corner = [{ outer: [[12, 7], [40, 7], [32, 17], [12, 17]], holes: [] }];
  assert.deepEqual(boundsOf(corner), [12, 7, 28, 10]);
});

const key = (k, extra = {}) => actionFor({ key: k, target: null, ...extra });

test("R picks the Box tool, M is box to SAM mask, Shift+digit toggles a tag by the key's place", () => {
  assert.deepEqual(key("r"), { action: "mode", arg: "box" });
  assert.deepEqual(key("m"), { action: "boxToMask" });
  assert.deepEqual(key("!", { shiftKey: true, code: "Digit1" }), { action: "toggleTag", arg: 0 });
  assert.deepEqual(key("&", { shiftKey: true, code: "Digit1" }), { action: "toggleTag", arg: 0 });
  assert.deepEqual(key("3", { code: "Digit3" }), { action: "label", arg: 2 });
  const listed = new Set(KEYS.map((k) => k.action));
  for (const action of ["boxToMask", "toggleTag"]) assert.ok(listed.has(action), action);
});
