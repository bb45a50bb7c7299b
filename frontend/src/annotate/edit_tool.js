// The Edit tool ("select" mode), with the gestures of CVAT's and Label Studio's polygon editors:
// a click selects the annotation under it; on the selected one, a drag moves a vertex, a click on
// an edge inserts a vertex there (and drags it), Alt+click or right-click deletes a vertex, and a
// drag inside (or the arrow keys) moves the whole shape. Every change is saved, with undo. Delete
// removes the vertex under the mouse or else the whole selected annotation.
import { clampToImage, deleteVertex, hitEdge, hitVertex, insertVertex, moveVertex, translatePolygons, vertexIndex, vertices } from "../ui/editing.js";
import { polygonsPath } from "../ui/render.js";
import { $ } from "./dom.js";

const HANDLE = 6; // screen pixels within which a vertex or an edge is under the mouse
const MOVE_AFTER = 3; // screen pixels a press travels before it moves the shape, not selects

export function createEditTool({ state, store, view, drawing, saving, panels, notices }) {
  const hitCtx = new OffscreenCanvas(1, 1).getContext("2d");
  const inside = (a, [x, y]) => hitCtx.isPointInPath(polygonsPath(a.polygons), x, y, "evenodd");

  // The topmost annotation containing xy, or null.
  function hitAnnotation(xy) {
    const list = store.list;
    for (let i = list.length - 1; i >= 0; i--) if (inside(list[i], xy)) return list[i].id;
    return null;
  }

  // The selected annotation's vertex within HANDLE screen pixels of xy, or -1.
  function vertexAt(sel, xy) {
    return sel ? hitVertex(vertices(sel.polygons), xy[0], xy[1], HANDLE / view.scale) : -1;
  }

  const edgeAt = (sel, xy) => (sel ? hitEdge(sel.polygons, xy[0], xy[1], HANDLE / view.scale) : null);

  function select(id) {
    state.selectedId = id;
    state.vertexHover = -1;
    drawing.drawBase();
    drawing.drawUi();
    panels.renderAnnotationList();
  }

  // Removes vertex k of the selected annotation; the last three of a shape stay (Delete with
  // nothing under the mouse removes the annotation itself).
  function removeVertex(a, k) {
    const next = deleteVertex(a.polygons, vertices(a.polygons)[k]);
    state.vertexHover = -1;
    if (!next) return notices.show("vertex", "A polygon keeps at least three vertices; press Delete to remove the annotation.", { level: "info" });
    return saving.saveEdit(a.id, next).then(() => drawing.drawUi());
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

  // Arrow keys move the selected shape. Presses that come while its save is on the way add up
  // and go in the next save: two PATCHes with the same version would conflict with each other.
  let nudged = null; // {id, dx, dy} waiting for the save in flight, or null
  async function nudge([dx, dy]) {
    const a = store.get(state.selectedId);
    if (state.mode !== "select" || state.readOnly || !a) return;
    if (nudged) {
      if (nudged.id === a.id) Object.assign(nudged, { dx: nudged.dx + dx, dy: nudged.dy + dy });
      return;
    }
    nudged = { id: a.id, dx, dy };
    while (nudged.dx || nudged.dy) {
      const { id, dx: x, dy: y } = nudged;
      Object.assign(nudged, { dx: 0, dy: 0 });
      const polygons = store.get(id)?.polygons;
      if (!polygons || !(await saving.saveEdit(id, translatePolygons(polygons, x, y, state.image.width, state.image.height)))) break;
      drawing.drawUi();
    }
    nudged = null;
  }

  // What a press at xy on the selected annotation would do, for the press and for the cursor.
  function gestureAt(sel, xy) {
    if (!sel || state.readOnly) return null;
    const k = vertexAt(sel, xy);
    if (k >= 0) return { kind: "vertex", k };
    const edge = edgeAt(sel, xy);
    if (edge) return { kind: "edge", edge };
    return inside(sel, xy) ? { kind: "inside" } : null;
  }

  function down({ sx, sy, xy }, e) {
    const sel = store.get(state.selectedId);
    const at = gestureAt(sel, xy);
    if (at?.kind === "vertex" && (e.altKey || e.button === 2)) return void removeVertex(sel, at.k);
    if (e.button !== 0) return;
    if (at?.kind === "vertex") {
      state.drag = { kind: "vertex", id: sel.id, k: at.k, polygons: sel.polygons, moved: false };
    } else if (at?.kind === "edge") {
      const { polygons, vertex } = insertVertex(sel.polygons, at.edge, at.edge.x, at.edge.y);
      const k = vertexIndex(polygons, vertex);
      // Saved on release even without a move: the click itself inserted the vertex.
      state.drag = { kind: "vertex", id: sel.id, k, polygons, moved: true };
      state.vertexHover = k;
      drawing.drawUi();
    } else {
      // Inside the selected shape a drag moves it; elsewhere the press selects what is under it,
      // and a drag from there moves that one.
      const id = at?.kind === "inside" ? sel.id : hitAnnotation(xy);
      if (id !== state.selectedId) select(id);
      if (id !== null && !state.readOnly) {
        const from = store.get(id).polygons;
        state.drag = { kind: "move", id, sx, sy, start: xy, from, polygons: from, moved: false };
      }
    }
  }

  function drag({ sx, sy, xy }) {
    const d = state.drag;
    const { width: w, height: h } = state.image;
    if (d.kind === "move") {
      d.moved ||= Math.hypot(sx - d.sx, sy - d.sy) > MOVE_AFTER;
      if (d.moved) d.polygons = translatePolygons(d.from, xy[0] - d.start[0], xy[1] - d.start[1], w, h);
    } else {
      const v = vertices(d.polygons)[d.k];
      const [x, y] = clampToImage(xy[0], xy[1], w, h);
      d.polygons = moveVertex(d.polygons, v, x, y);
      d.moved = true;
    }
    drawing.drawUi();
    return true;
  }

  function up(d) {
    // A press inside the selected shape that did not move is a click: select what is on top there.
    if (d.kind === "move" && !d.moved) return select(hitAnnotation(d.start));
    if (d.moved) saving.saveEdit(d.id, d.polygons).then(() => drawing.drawUi());
  }

  function hover({ xy }) {
    const sel = store.get(state.selectedId);
    const at = gestureAt(sel, xy);
    $("stage").style.cursor = { vertex: "pointer", edge: "copy", inside: "move" }[at?.kind] ?? "default";
    const k = at?.kind === "vertex" ? at.k : -1;
    if (k === state.vertexHover) return;
    state.vertexHover = k;
    drawing.drawUi();
  }

  // The shape being dragged, where it will be saved (the base layer still shows the saved one).
  function overlay(ctx, v) {
    const d = state.drag;
    if ((d?.kind !== "vertex" && d?.kind !== "move") || !d.moved) return;
    ctx.strokeStyle = "#facc15";
    ctx.lineWidth = 2 / v.scale;
    ctx.stroke(polygonsPath(d.polygons));
  }

  return {
    cursor: "default",
    down, drag, up, hover, overlay,

    // The vertex handles of the selected annotation, as they are while it is dragged.
    ui: () => {
      const selected = state.mode === "select" ? store.get(state.selectedId) : null;
      const dragged = state.drag?.kind === "vertex" || state.drag?.kind === "move";
      const polygons = dragged ? state.drag.polygons : selected?.polygons;
      return { vertices: selected ? vertices(polygons).map((v) => [v.x, v.y]) : null, hoverVertex: state.vertexHover };
    },

    modeChanged: () => (state.vertexHover = -1),
    actions: { delete: () => deleteSelected(), nudge: (step) => nudge(step) },
  };
}

