// The Brush and Eraser tools (one object, registered under both modes): a stroke paints into the
// selected annotation's mask, or into a new one, and is traced back into polygons on release.
import { maskToPolygons } from "../ui/contours.js";
import { hexToRgba, maskToImageData, paintStroke, polygonsToMask } from "../ui/maskpaint.js";
import { $ } from "./dom.js";
import { currentLabel } from "./state.js";

export function createBrushTool({ state, store, drawing, saving, notices }) {
  const strokeImage = (d) => maskToImageData(d.mask, state.image.width, state.image.height, hexToRgba(drawing.labelColour(), 0.45));

  function paintTo(xy) {
    const d = state.drag;
    const { width: w, height: h } = state.image;
    paintStroke(d.mask, w, h, d.last, xy, state.brushRadius, d.erase ? 0 : 1);
    d.last = xy;
    drawing.drawMaskData(strokeImage(d));
    drawing.drawUi();
  }

  async function finish(d) {
    const { width: w, height: h } = state.image;
    const polygons = maskToPolygons(d.mask, w, h, { tolerance: state.tolerance });
    if (d.id) {
      if (polygons.length) await saving.saveEdit(d.id, polygons, { asMask: true });
      else notices.show("brush", "Erasing everything would leave an empty annotation; use Delete to remove it.", { level: "info" });
    } else if (polygons.length && currentLabel(state)) {
      const a = await saving.saveNew({ label: currentLabel(state).id, polygons, source: "manual" }, "brush");
      if (a) state.selectedId = a.id;
    }
    drawing.redraw();
  }

  function resize(factor) {
    state.brushRadius = Math.max(1, Math.min(200, state.brushRadius * factor));
    $("brush-size").value = String(Math.round(state.brushRadius));
    drawing.drawUi();
  }

  $("brush-size").addEventListener("input", (e) => (state.brushRadius = Number(e.target.value)));

  return {
    cursor: "none",

    down({ xy }) {
      if (state.readOnly) return;
      const erase = state.mode === "eraser";
      const { width: w, height: h } = state.image;
      const sel = store.get(state.selectedId);
      if (erase && !sel) return notices.show("brush", "Select an annotation (Edit tool) to erase from it.", { level: "info" });
      const mask = sel ? polygonsToMask(sel.polygons, w, h) : new Uint8Array(w * h);
      state.drag = { kind: "brush", erase, mask, last: xy, id: sel?.id ?? null };
      paintTo(xy);
    },

    drag({ xy }) {
      paintTo(xy);
      return true;
    },

    up: (d) => finish(d),
    hover: () => drawing.drawUi(), // the brush outline follows the cursor

    // The stroke in progress lies over any SAM mask.
    mask: () => (state.drag?.kind === "brush" ? strokeImage(state.drag) : undefined),
    ui: () => ({
      brush: state.cursor && (state.mode === "brush" || state.mode === "eraser")
        ? { x: state.cursor[0], y: state.cursor[1], radius: state.brushRadius, erase: state.mode === "eraser" } : null,
    }),

    actions: { brushSize: (factor) => resize(factor) },
  };
}
