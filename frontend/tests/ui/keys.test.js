import { test } from "node:test";
import assert from "node:assert/strict";
import { actionFor, KEYS } from "../../src/ui/keys.js";

// Every key a keyboard can send, alone and with each modifier: whatever action it reaches must
// have its row in the ? overlay (KEYS), so the help never leaves a working key out.
test("every action a key reaches is listed in the ? overlay", () => {
  const keys = [
    ..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789[]?/-=;',.`\\ ",
    "Enter", "Tab", "Escape", "Delete", "Backspace", "ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown",
  ];
  const reached = new Set();
  for (const key of keys) {
    for (const mods of [{}, { shiftKey: true }, { ctrlKey: true }, { ctrlKey: true, shiftKey: true }, { altKey: true }]) {
      const hit = actionFor({ key, target: document_like("CANVAS"), ...mods });
      if (hit) reached.add(hit.action);
    }
    const inField = actionFor({ key, target: document_like("SELECT") });
    if (inField) reached.add(inField.action);
  }
  // Shift+digit is read by the key's place (event.code), whatever character it types.
  for (let d = 1; d <= 9; d++) {
    const hit = actionFor({ key: "!", code: `Digit${d}`, shiftKey: true, target: document_like("CANVAS") });
    if (hit) reached.add(hit.action);
  }
  const listed = new Set(KEYS.map((k) => k.action).filter(Boolean));
  assert.deepEqual([...reached].filter((a) => !listed.has(a)), []);
  // And the other way: no row names an action no key reaches.
  assert.deepEqual([...listed].filter((a) => !reached.has(a)), []);
  assert.ok(reached.has("history") && reached.has("cycleCandidate") && reached.has("nextImage"));
});

test("Y opens the history; in a list or field only Esc is the page's", () => {
  assert.deepEqual(actionFor({ key: "y", target: document_like("DIV") }), { action: "history" });
  assert.equal(actionFor({ key: "Enter", target: document_like("SELECT") }), null);
  assert.deepEqual(actionFor({ key: "Escape", target: document_like("SELECT") }), { action: "blur" });
});

function document_like(tagName) {
  return { tagName, isContentEditable: false };
}
