// The stage's tools, one per mode (SAM, Edit, Polygon, Brush, Eraser). A tool is a plain object; every
// member is optional:
//   cursor                  the stage's CSS cursor while it is active
//   down(p, event)          mouse down on the stage; a tool that starts a gesture sets state.drag
//   drag(p, event) -> bool  mouse move during the gesture it started; false lets hover(p) run too
//   up(drag, event)         the end of the gesture it started (state.drag is already cleared)
//   hover(p, event)         mouse move over the stage with no gesture of its own
//   keys {action: fn}       actions the tool takes over while it is active: fn(arg) returns true
//                           when it handled the key (Enter closes the polygon being drawn), false
//                           to leave it to the page (annotate/controls.js)
// where p = {sx, sy, xy, inImage} (annotate/pointer.js). A new tool is a module and a register().
import { $ } from "./dom.js";

export function createTools({ state, drawing }) {
  const byMode = new Map();
  const listeners = []; // (mode) => void, for parts that keep per-mode state

  function setMode(mode) {
    state.mode = mode;
    for (const listener of listeners) listener(mode);
    for (const b of document.querySelectorAll("button[data-mode]")) b.setAttribute("aria-pressed", String(b.dataset.mode === mode));
    $("stage").style.cursor = byMode.get(mode)?.cursor ?? "none";
    drawing.drawUi();
  }

  return {
    register: (mode, tool) => byMode.set(mode, tool),
    active: () => byMode.get(state.mode) ?? null,
    onModeChange: (listener) => listeners.push(listener),
    setMode,
    actions: { mode: (m) => setMode(m) },
  };
}
