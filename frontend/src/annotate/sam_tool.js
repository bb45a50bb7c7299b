// The SAM tool's gestures: hover shows the mask under the cursor, a click adds a positive point
// (right or Alt+click a negative one), a drag of more than 5 px draws a box prompt.
import * as P from "../ui/prompts.js";
import { clampToImage } from "../ui/editing.js";

export function createSamTool({ state, prompting, drawing }) {
  return {
    cursor: "crosshair",

    down({ sx, sy, xy }, e) {
      if (!state.ready) return;
      if (e.button === 2) return void (state.readOnly || prompting.addPoint(xy[0], xy[1], 0));
      state.drag = { kind: "press", sx, sy, start: xy, negative: e.altKey };
    },

    drag({ sx, sy, xy }) {
      const d = state.drag;
      if (d.kind === "press" && Math.hypot(sx - d.sx, sy - d.sy) > 5) state.drag = { kind: "box", start: d.start, box: null };
      if (state.drag.kind !== "box") return false;
      state.drag.box = [...state.drag.start, ...clampToImage(xy[0], xy[1], state.image.width, state.image.height)];
      drawing.drawUi();
      return true;
    },

    up(d) {
      if (state.readOnly) return;
      if (d.kind === "press") prompting.addPoint(d.start[0], d.start[1], d.negative ? 0 : 1);
      else if (d.kind === "box" && d.box) prompting.setBox(d.box);
    },

    // Hover: only while no object is being refined, and only over the image.
    hover({ xy, inImage }, e) {
      if (!prompting.canHover() || !P.isEmpty(state.prompts) || state.drag || !inImage) return;
      prompting.hoverAt(xy[0], xy[1], e.timeStamp);
    },

    ui: () => ({ dragBox: state.drag?.kind === "box" ? state.drag.box : null }),
  };
}
