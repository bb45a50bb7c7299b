// The Edit tool ("select" mode): a click selects the annotation under it, a drag moves a vertex of
// the selected one (saved on release), Delete removes the vertex under the mouse or else the
// whole selected annotation.
import { clampToImage, deleteVertex, hitVertex, moveVertex, vertices } from "../ui/editing.js";
import { polygonsPath } from "../ui/render.js";

export function createEditTool({ state, store, view, drawing, saving, panels }) {
  const hitCtx = new OffscreenCanvas(1, 1).getContext("2d");

  // The topmost annotation containing (x, y), or null.
  function hitAnnotation(x, y) {
    const list = store.list;
    for (let i = list.length - 1; i >= 0; i--) {
      if (hitCtx.isPointInPath(polygonsPath(list[i].polygons), x, y, "evenodd")) return list[i].id;
    }
    return null;
  }

  // The selected annotation's vertex within 6 screen pixels of xy, or -1.
  function vertexAt(sel, xy) {
    return sel ? hitVertex(vertices(sel.polygons), xy[0], xy[1], 6 / view.scale) : -1;
  }

  async function deleteSelected() {
    if (state.readOnly) return;
    const a = store.get(state.selectedId);
    if (!a) return;
    if (state.mode === "select" && state.vertexHover >= 0) {
      const next = deleteVertex(a.polygons, vertices(a.polygons)[state.vertexHover]);
      state.vertexHover = -1;
      if (next) return saving.saveEdit(a.id, next);
    }
    await saving.deleteAnnotation(a);
  }

  return {
    cursor: "default",

    down({ xy }) {
      const sel = store.get(state.selectedId);
      const k = vertexAt(sel, xy);
      if (k >= 0 && !state.readOnly) {
        state.drag = { kind: "vertex", id: sel.id, k, polygons: sel.polygons, moved: false };
        return;
      }
      state.selectedId = hitAnnotation(xy[0], xy[1]);
      state.vertexHover = -1;
      drawing.drawBase();
      drawing.drawUi();
      panels.renderAnnotationList();
    },

    drag({ xy }) {
      const d = state.drag;
      const v = vertices(d.polygons)[d.k];
      const [x, y] = clampToImage(xy[0], xy[1], state.image.width, state.image.height);
      d.polygons = moveVertex(d.polygons, v, x, y);
      d.moved = true;
      drawing.drawUi();
      return true;
    },

    up(d) {
      if (d.moved) saving.saveEdit(d.id, d.polygons).then(() => drawing.drawUi());
    },

    hover({ xy }) {
      const k = vertexAt(store.get(state.selectedId), xy);
      if (k === state.vertexHover) return;
      state.vertexHover = k;
      drawing.drawUi();
    },

    // The vertex handles of the selected annotation, as they are while one is dragged.
    ui: () => {
      const selected = state.mode === "select" ? store.get(state.selectedId) : null;
      const polygons = state.drag?.kind === "vertex" ? state.drag.polygons : selected?.polygons;
      return { vertices: selected ? vertices(polygons).map((v) => [v.x, v.y]) : null, hoverVertex: state.vertexHover };
    },

    modeChanged: () => (state.vertexHover = -1),
    actions: { delete: () => deleteSelected() },
  };
}
