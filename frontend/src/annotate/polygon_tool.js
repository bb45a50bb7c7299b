// The Polygon tool ("polygon" mode, G): a click places a vertex; a click on the first vertex, or
// Enter, closes the shape and saves it under the current label. Backspace, Ctrl+Z or a right-click
// takes the last vertex back; Esc drops the shape. Editing a saved polygon is the Edit tool's job.
import { clampToImage } from "../ui/editing.js";
import { currentLabel } from "./state.js";

const CLOSE_RADIUS = 8; // screen pixels around the first vertex where a click closes the shape

export function createPolygonTool({ state, view, drawing, saving, panels, notices }) {
  let closing = false; // a save is in flight: a second Enter must not save the shape twice

  const nearFirst = (xy) => {
    const pts = state.polygon;
    return pts?.length >= 3 && Math.hypot(pts[0][0] - xy[0], pts[0][1] - xy[1]) <= CLOSE_RADIUS / view.scale;
  };

  async function close() {
    const outer = state.polygon;
    if (closing || !outer) return;
    if (outer.length < 3) return notices.show("polygon", "A polygon needs at least three vertices.", { level: "info" });
    const label = currentLabel(state);
    if (!label) return notices.show("labels", "This project has no labels yet; ask a manager to add one.");
    closing = true;
    try {
      const a = await saving.saveNew({ label: label.id, polygons: [{ outer, holes: [] }], source: "manual" }, "polygon");
      // On failure the shape stays on screen (and the notice offers a retry).
      if (!a) return;
      if (state.polygon === outer) state.polygon = null;
      state.selectedId = a.id;
      panels.renderAnnotationList();
    } finally {
      closing = false;
      drawing.redraw();
    }
  }

  function removeLast() {
    state.polygon = state.polygon.length > 1 ? state.polygon.slice(0, -1) : null;
    drawing.drawUi();
  }

  function cancel() {
    state.polygon = null;
    drawing.drawUi();
  }

  // The shape so far, a dashed edge to the cursor, and its vertices; the first one grows when a
  // click there would close the shape.
  function overlay(ctx, v) {
    const pts = state.polygon;
    if (!pts || state.mode !== "polygon") return;
    const px = 1 / v.scale;
    ctx.beginPath();
    pts.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    // A dark underlay keeps the label's colour readable over any image.
    ctx.strokeStyle = "#111";
    ctx.lineWidth = 4 * px;
    ctx.stroke();
    ctx.strokeStyle = drawing.labelColour();
    ctx.lineWidth = 2 * px;
    ctx.stroke();
    if (state.cursor) {
      ctx.setLineDash([5 * px, 4 * px]);
      ctx.beginPath();
      ctx.moveTo(...pts.at(-1));
      ctx.lineTo(...state.cursor);
      ctx.stroke();
      ctx.setLineDash([]);
    }
    const closable = state.cursor && nearFirst(state.cursor);
    pts.forEach(([x, y], i) => {
      const s = (i === 0 && closable ? 10 : 6) * px;
      ctx.fillStyle = i === 0 ? "#facc15" : "#ffffff";
      ctx.fillRect(x - s / 2, y - s / 2, s, s);
      ctx.lineWidth = px;
      ctx.strokeStyle = "#111";
      ctx.strokeRect(x - s / 2, y - s / 2, s, s);
    });
  }

  return {
    cursor: "crosshair",

    down({ xy }, e) {
      if (!state.image) return;
      if (state.readOnly) return notices.show("readonly", "This image is read-only for you; nothing was saved.", { level: "info" });
      if (e.button === 2) return void (state.polygon && removeLast());
      if (e.button !== 0) return;
      if (nearFirst(xy)) return void close();
      // Hundredths of a pixel: finer than anyone clicks, and the saved JSON stays readable.
      const [x, y] = clampToImage(xy[0], xy[1], state.image.width, state.image.height).map((c) => Math.round(c * 100) / 100);
      state.polygon = [...(state.polygon ?? []), [x, y]];
      drawing.drawUi();
    },

    hover: () => state.polygon && drawing.drawUi(), // the edge to the cursor follows it

    overlay,
    modeChanged: (mode) => mode !== "polygon" && (state.polygon = null),
    reset: () => (state.polygon = null),

    // While a shape is being drawn these keys act on it rather than on the page.
    keys: {
      accept: () => Boolean(state.polygon) && (close(), true),
      clear: () => Boolean(state.polygon) && (cancel(), true),
      delete: () => Boolean(state.polygon) && (removeLast(), true),
      undo: () => Boolean(state.polygon) && (removeLast(), true),
    },
    closeShape: () => close(),
  };
}
