// The Box tool ("box" mode, R): a drag on the image draws a box, saved at once as a box
// annotation of the current label; a drag inside a box moves it, a drag of a selected box's
// corner resizes it (the opposite corner stays). M turns the selected box into SAM's mask for
// that box: the browser decoder runs with the box as its prompt, and the box is replaced in
// place by the mask (the same object: label and attributes kept; Ctrl+Z makes it a box again).
import * as P from "../ui/prompts.js";
import { clampToImage } from "../ui/editing.js";
import { currentLabel } from "./state.js";

const HANDLE = 7; // screen pixels around a corner that grab it
const MIN_DRAG = 2; // image pixels: a smaller box is a click (it selects), not a box

const round = (v) => Math.round(v * 100) / 100;

// [x, y, w, h] of the rectangle spanned by two corners.
export function spanned([ax, ay], [bx, by]) {
  const x = Math.min(ax, bx), y = Math.min(ay, by);
  return [round(x), round(y), round(Math.abs(bx - ax)), round(Math.abs(by - ay))];
}

// The bbox of polygons: what the Edit tool's gestures on a box (a move, a dragged corner) save.
export function boundsOf(polygons) {
  const pts = polygons.flatMap((p) => p.outer);
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
  return spanned([Math.min(...xs), Math.min(...ys)], [Math.max(...xs), Math.max(...ys)]);
}

const corners = ([x, y, w, h]) => [[x, y], [x + w, y], [x + w, y + h], [x, y + h]];

export function createBoxTool({ state, store, view, drawing, saving, panels, notices, prompting, undo }) {
  const clamp = (xy) => clampToImage(xy[0], xy[1], state.image.width, state.image.height);
  const inside = ([x, y, w, h], [px, py]) => px >= x && px <= x + w && py >= y && py <= y + h;

  function hitBox(xy) {
    const list = store.list;
    for (let i = list.length - 1; i >= 0; i--) if (list[i].kind === "box" && inside(list[i].bbox, xy)) return list[i];
    return null;
  }

  function cornerAt(a, [x, y]) {
    const r = HANDLE / view.scale;
    return corners(a.bbox).findIndex(([cx, cy]) => Math.abs(cx - x) <= r && Math.abs(cy - y) <= r);
  }

  function select(id) {
    state.selectedId = id;
    drawing.redraw();
    panels.renderAnnotationList();
  }

  async function create(bbox) {
    const label = currentLabel(state);
    if (!label) return notices.show("labels", "This project has no labels yet; ask a manager to add one.");
    const a = await saving.saveNew({ label: label.id, kind: "box", bbox, source: "manual" }, "box");
    if (a) select(a.id);
  }

  // M: the selected box becomes the mask SAM finds in it.
  async function boxToMask() {
    const a = store.get(state.selectedId);
    if (!a || a.kind !== "box") return notices.show("box", "Select a box first (R, then click it): M turns it into SAM's mask.", { level: "info" });
    if (state.readOnly) return notices.show("readonly", "This image is read-only for you; nothing was saved.", { level: "info" });
    if (!state.ready) return notices.show("box", "SAM is not ready yet: the image's embedding is still loading.", { level: "info" });
    const [x, y, w, h] = a.bbox;
    const decoded = await prompting.setPromptCase({ box: [x, y, x + w, y + h], multimask_output: false });
    const polygons = decoded && state.preview?.state === decoded ? state.preview.polygons : null;
    if (!polygons?.length) {
      prompting.clearPrompts({ record: false });
      return notices.show("box", "SAM found no mask in this box; the box is kept.", { level: "info" });
    }
    const fields = { kind: "mask", polygons, score: Number(decoded.result.scores[decoded.result.chosen]), prompts: P.promptsRecord(decoded) };
    const before = { kind: "box", bbox: a.bbox };
    try {
      await store.update(a.id, fields);
    } catch (err) {
      notices.show("save", `Not turned into a mask: ${err.message}`);
      return;
    } finally {
      prompting.clearPrompts({ record: false });
    }
    undo.push({ kind: "boxToMask", imageId: state.imageId, undo: () => store.update(a.id, before), redo: () => store.update(a.id, fields) });
    select(a.id);
  }

  function overlay(ctx, v) {
    const d = state.drag;
    const px = 1 / v.scale;
    const stroke = (bbox, dashed) => {
      ctx.setLineDash(dashed ? [5 * px, 4 * px] : []);
      ctx.strokeStyle = "#111";
      ctx.lineWidth = 4 * px;
      ctx.strokeRect(...bbox);
      ctx.strokeStyle = drawing.labelColour();
      ctx.lineWidth = 2 * px;
      ctx.strokeRect(...bbox);
      ctx.setLineDash([]);
    };
    if (d?.kind === "boxDraw") stroke(spanned(d.start, d.end), true);
    if (d?.kind === "boxMove" || d?.kind === "boxResize") stroke(d.bbox, true);
    const sel = store.get(state.selectedId);
    if (state.mode !== "box" || sel?.kind !== "box") return;
    for (const [x, y] of corners(d?.id === sel.id ? d.bbox : sel.bbox)) {
      const s = 7 * px;
      ctx.fillStyle = "#ffffff";
      ctx.fillRect(x - s / 2, y - s / 2, s, s);
      ctx.strokeStyle = "#111";
      ctx.lineWidth = px;
      ctx.strokeRect(x - s / 2, y - s / 2, s, s);
    }
  }

  return {
    cursor: "crosshair",

    down({ xy }, e) {
      if (!state.image || e.button !== 0) return;
      if (state.readOnly) return notices.show("readonly", "This image is read-only for you; nothing was saved.", { level: "info" });
      const sel = store.get(state.selectedId);
      const k = sel?.kind === "box" ? cornerAt(sel, xy) : -1;
      if (k >= 0) {
        state.drag = { kind: "boxResize", id: sel.id, anchor: corners(sel.bbox)[(k + 2) % 4], bbox: sel.bbox };
        return;
      }
      const hit = hitBox(xy);
      if (hit) {
        select(hit.id);
        state.drag = { kind: "boxMove", id: hit.id, start: xy, bbox: hit.bbox, from: hit.bbox, moved: false };
        return;
      }
      state.drag = { kind: "boxDraw", start: clamp(xy), end: clamp(xy) };
    },

    drag({ xy }) {
      const d = state.drag;
      if (d.kind === "boxDraw") d.end = clamp(xy);
      else if (d.kind === "boxResize") d.bbox = spanned(d.anchor, clamp(xy));
      else if (d.kind === "boxMove") {
        const [x, y, w, h] = d.from;
        const nx = Math.min(Math.max(0, x + xy[0] - d.start[0]), state.image.width - w);
        const ny = Math.min(Math.max(0, y + xy[1] - d.start[1]), state.image.height - h);
        d.bbox = [round(nx), round(ny), w, h];
        d.moved = true;
      }
      drawing.drawUi();
      return true;
    },

    up(d) {
      if (d.kind === "boxDraw") {
        const bbox = spanned(d.start, d.end);
        if (bbox[2] >= MIN_DRAG && bbox[3] >= MIN_DRAG) create(bbox);
        else select(null);
      } else if ((d.kind === "boxResize" || d.moved) && d.bbox[2] >= 1 && d.bbox[3] >= 1) {
        saving.saveEdit(d.id, [{ outer: corners(d.bbox), holes: [] }]).then(() => drawing.drawUi());
      }
    },

    overlay,
    actions: { boxToMask: () => boxToMask() },
  };
}
