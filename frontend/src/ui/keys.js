// The keyboard map in one table: the handler dispatch and the help overlay (?) read the same
// entries, so the help can never list a key that does not work.

export const KEYS = [
  { keys: "Click", what: "SAM: positive point (a second one refines the chosen candidate)" },
  { keys: "Right-click / Alt+click", what: "SAM: negative point" },
  { keys: "Drag", what: "SAM: box prompt" },
  { keys: "Enter", action: "accept", what: "accept the mask as polygons with the current label; Polygon: close the shape" },
  { keys: "Tab / Shift+Tab", action: "cycleCandidate", what: "next / previous of the prompt's three candidates (predicted IoU shown)" },
  { keys: "1 – 9", action: "label", what: "pick a label" },
  { keys: "Esc", action: "clear", what: "clear prompts, drop the polygon being drawn, or deselect" },
  { keys: "Ctrl+Z", action: "undo", what: "undo" },
  { keys: "Ctrl+Shift+Z / Ctrl+Y", action: "redo", what: "redo" },
  { keys: "N / P", action: "nextImage", what: "next / previous image" },
  { keys: "Delete", action: "delete", what: "delete the vertex under the mouse, else the selected annotation" },
  { keys: "Backspace", action: "delete", what: "Polygon: remove the last vertex drawn (else as Delete)" },
  { keys: "S / V / G / B / E / R", action: "mode", what: "SAM, select & edit, polygon, brush, eraser, box" },
  { keys: "G, then click", what: "Polygon: add a vertex; click the first one (or Enter) to close; right-click undoes one" },
  { keys: "V, then drag", what: "Edit: a vertex moves it, an edge inserts one there, the inside moves the whole shape" },
  { keys: "V, then Alt+click", what: "Edit: delete the vertex clicked (right-click too)" },
  { keys: "V, then arrows", action: "nudge", what: "Edit: move the selected shape 1 px (with Shift 10 px)" },
  { keys: "R, then drag", what: "Box: draw a box (saved as a box annotation); drag a box to move it, a selected box's corner to resize it" },
  { keys: "M", action: "boxToMask", what: "Box to SAM mask: SAM decodes the selected box as its prompt and the box is replaced by that mask (the same object, label and attributes kept; Ctrl+Z makes it a box again)" },
  { keys: "Shift+1 – 9", action: "toggleTag", what: "set or take off image tag 1–9 (the Tags strip)" },
  { keys: "[ / ]", action: "brushSize", what: "smaller / larger brush" },
  { keys: "I, then click", action: "pinIssue", what: "Review: pin an issue (the text in the Review panel) to the point clicked" },
  { keys: "Y", action: "history", what: "History: the selected annotation's versions (with none selected, the image's, deleted ones too); ↑ / ↓ pick one, Enter reverts to it, Esc leaves the list" },
  { keys: "K", action: "proposalKeep", what: "Proposals: keep the one under the mouse (or picked with J)" },
  { keys: "X", action: "proposalDrop", what: "Proposals: drop the one under the mouse (or picked with J)" },
  { keys: "J / Shift+J", action: "proposalNext", what: "Proposals: pick the next / previous one" },
  { keys: "Shift+K", action: "proposalsKeepAbove", what: "Proposals: keep all scoring at least the slider's value" },
  { keys: "W, then drag", action: "proposalBox", what: "Proposals: keep all inside the box dragged" },
  { keys: "A", action: "atlasProposals", what: "instant proposals: the hover atlas's masks, ranked (click one to segment it exactly)" },
  { keys: "H", action: "toggleAnnotations", what: "show or hide annotations" },
  { keys: "F", action: "fit", what: "fit the image to the window" },
  { keys: "Wheel / Space+drag", what: "zoom / pan (middle button drags too)" },
  { keys: "/", action: "find", what: "Find: type phrases (comma separated), Enter finds every instance in this image as proposals" },
  { keys: "?", action: "help", what: "this help" },
  { keys: "Esc (in a field or list)", action: "blur", what: "leave it: the keys above work again" },
];

const MODES = { s: "sam", v: "select", g: "polygon", b: "brush", e: "eraser", r: "box" };

// KeyboardEvent -> {action, arg} or null. Typing in a form field is never a shortcut.
export function actionFor(event) {
  const t = event.target;
  if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable)) {
    return event.key === "Escape" ? { action: "blur" } : null;
  }
  const ctrl = event.ctrlKey || event.metaKey;
  const key = event.key;
  if (ctrl && (key === "z" || key === "Z")) return { action: event.shiftKey ? "redo" : "undo" };
  if (ctrl && (key === "y" || key === "Y")) return { action: "redo" };
  if (ctrl || event.altKey) return null;
  if (key === "Enter") return { action: "accept" };
  if (key === "Tab") return { action: "cycleCandidate", arg: event.shiftKey ? -1 : 1 };
  if (key === "Escape") return { action: "clear" };
  if (key === "Delete" || key === "Backspace") return { action: "delete" };
  // By the key's place, not its character: Shift+1 types "!" (or "&" on AZERTY).
  if (event.shiftKey && /^Digit[1-9]$/.test(event.code ?? "")) return { action: "toggleTag", arg: Number(event.code.slice(5)) - 1 };
  if (/^[1-9]$/.test(key)) return { action: "label", arg: Number(key) - 1 };
  if (key === "m" || key === "M") return { action: "boxToMask" };
  if (key === "n" || key === "N") return { action: "nextImage", arg: 1 };
  if (key === "p" || key === "P") return { action: "nextImage", arg: -1 };
  if (key === "k" || key === "K") return { action: event.shiftKey ? "proposalsKeepAbove" : "proposalKeep" };
  if (key === "x" || key === "X") return { action: "proposalDrop" };
  if (key === "j" || key === "J") return { action: "proposalNext", arg: event.shiftKey ? -1 : 1 };
  if (key === "w" || key === "W") return { action: "proposalBox" };
  if (MODES[key.toLowerCase()]) return { action: "mode", arg: MODES[key.toLowerCase()] };
  const arrow = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] }[key];
  if (arrow) return { action: "nudge", arg: arrow.map((d) => d * (event.shiftKey ? 10 : 1)) };
  if (key === "[" || key === "]") return { action: "brushSize", arg: key === "]" ? 1.25 : 0.8 };
  if (key === "h" || key === "H") return { action: "toggleAnnotations" };
  if (key === "y" || key === "Y") return { action: "history" };
  if (key === "i" || key === "I") return { action: "pinIssue" };
  if (key === "a" || key === "A") return { action: "atlasProposals" };
  if (key === "f" || key === "F") return { action: "fit" };
  if (key === "/") return { action: "find" };
  if (key === "?") return { action: "help" };
  return null;
}

export function helpTable() {
  const table = document.createElement("table");
  for (const k of KEYS) {
    const tr = table.insertRow();
    const a = tr.insertCell();
    const kbd = document.createElement("kbd");
    kbd.textContent = k.keys;
    a.appendChild(kbd);
    tr.insertCell().textContent = k.what;
  }
  return table;
}
