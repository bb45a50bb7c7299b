// Every write of an annotation, each recorded on the undo stack. A failed write never loses the
// user's work: it stays on screen with a way to retry, or to choose between their version and
// someone else's when the server says the annotation changed (409) or went away (404).
import { ApiError } from "../ui/api.js";
import { AnnotationStore } from "../ui/annotations.js";
import * as P from "../ui/prompts.js";
import { boundsOf } from "./box_tool.js";
import { currentLabel } from "./state.js";

// What a shape edit sends: a box is kept by its bbox (the bounds of the edited outline, so the
// Edit tool's moves work on boxes too), anything else by its polygons.
const shapeOf = (a, polygons) => (a?.kind === "box" ? { bbox: boundsOf(polygons) } : { polygons });

export function createSaving({ state, store, undo, notices, drawing, prompting }) {
  // Enter: the current SAM object (or, with nothing clicked, the hovered mask) as polygons.
  async function accept() {
    if (state.readOnly) return notices.show("readonly", "This image is read-only for you; nothing was saved.", { level: "info" });
    if (!state.prompts.result && !P.isEmpty(state.prompts)) await state.decoding;
    let prompts = state.prompts;
    if (!prompts.result && state.hover) {
      // Enter while only hovering accepts the hovered mask, as if it had been clicked.
      prompts = { ...P.addPoint(P.EMPTY, state.hover.x, state.hover.y, 1), result: { ...state.hover.reply, multimask: true } };
      state.prompts = prompts;
    }
    if (!prompts.result) return null;
    const label = currentLabel(state);
    if (!label) return notices.show("labels", "This project has no labels yet; ask a manager to add one.");
    const preview = state.preview?.state === prompts ? state.preview : await prompting.updatePreview(prompts);
    if (!preview?.polygons.length) return notices.show("empty", "The mask is empty; add a point or a box first.", { level: "info" });
    const fields = {
      label: label.id, polygons: preview.polygons, source: "sam",
      score: Number(prompts.result.scores[prompts.result.chosen]), prompts: P.promptsRecord(prompts),
    };
    const saved = await saveNew(fields, "accept");
    if (saved) prompting.clearPrompts({ record: false });
    return saved;
  }

  // Creates an annotation and records its undo. On failure the fields stay on screen with a retry.
  async function saveNew(fields, kind) {
    let a;
    try {
      a = await store.create(fields);
    } catch (err) {
      notices.show("save", `Not saved: ${err.message}`, { actions: [{ label: "Retry", run: () => saveNew(fields, kind).then((ok) => ok && notices.clear("save")) }] });
      return null;
    }
    notices.clear("save");
    let id = a.id;
    undo.push({
      kind, imageId: state.imageId,
      undo: async () => {
        await store.remove(id);
        if (state.selectedId === id) state.selectedId = null;
      },
      redo: async () => {
        id = (await store.create(fields)).id;
      },
    });
    return a;
  }

  // Saves new polygons of an existing annotation. A 409 means someone else saved it meanwhile: the
  // user chooses between their version and ours; ours stays in memory until then. A 404 means
  // someone else deleted it: the edit stays on screen and can be saved as a new annotation.
  // `asMask`: the edit makes a box a mask (a brush stroke), not a box of the stroke's bounds.
  async function saveEdit(id, polygons, { record = true, asMask = false } = {}) {
    const target = store.get(id);
    const before = target?.kind === "box" ? { kind: "box", bbox: target.bbox } : shapeOf(target, target?.polygons);
    const after = asMask && target?.kind === "box" ? { kind: "mask", polygons } : shapeOf(target, polygons);
    try {
      await store.update(id, after);
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) {
        store.setLocal(id, { polygons });
        notices.show("conflict", "Someone else changed this annotation since you loaded it. Your edit is kept here.", {
          actions: [
            { label: "Keep mine", run: async () => { await store.refresh(id); notices.clear("conflict"); await saveEdit(id, polygons, { record, asMask }); } },
            { label: "Take theirs", run: async () => { await store.refresh(id); notices.clear("conflict"); } },
          ],
        });
      } else if (err instanceof ApiError && err.status === 404 && store.get(id)) {
        const fields = { ...AnnotationStore.recipe(store.get(id)), ...shapeOf(store.get(id), polygons) };
        store.setLocal(id, { polygons });
        const drop = () => { store.forget(id); if (state.selectedId === id) state.selectedId = null; notices.clear("conflict"); drawing.drawUi(); };
        notices.show("conflict", "Someone else deleted this annotation. Your edit is kept here.", {
          actions: [
            { label: "Save as new", run: async () => { if (await saveNew(fields, "accept")) drop(); } },
            { label: "Discard", run: drop },
          ],
        });
      } else {
        notices.show("save", `Not saved: ${err.message}`, { actions: [{ label: "Retry", run: () => saveEdit(id, polygons, { record, asMask }) }] });
      }
      drawing.redraw();
      return false;
    }
    notices.clear("save");
    if (record && target) {
      undo.push({ kind: "edit", imageId: state.imageId, undo: () => store.update(id, before), redo: () => store.update(id, after) });
    }
    return true;
  }

  // Deletes with undo (which recreates it: the server gives it a new id). Returns success.
  async function deleteAnnotation(a) {
    if (state.readOnly) return false;
    const fields = AnnotationStore.recipe(a);
    let id = a.id;
    try {
      await store.remove(id);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        store.forget(id); // someone else deleted it already: what the user wanted
      } else if (err instanceof ApiError && err.status === 409) {
        notices.show("conflict", "Someone else changed this annotation since you loaded it; it was not deleted.", {
          actions: [
            { label: "Show theirs", run: async () => { await store.refresh(id); notices.clear("conflict"); } },
            { label: "Delete anyway", run: async () => { await store.refresh(id); notices.clear("conflict"); await deleteAnnotation(store.get(id)); } },
          ],
        });
        return false;
      } else {
        notices.show("save", `Not deleted: ${err.message}`);
        return false;
      }
    }
    if (state.selectedId === id) state.selectedId = null;
    undo.push({
      kind: "delete", imageId: state.imageId,
      undo: async () => { id = (await store.create(fields)).id; },
      redo: async () => { await store.remove(id); },
    });
    drawing.drawUi();
    return true;
  }

  // Gives an annotation another label, with undo.
  function relabel(a, after) {
    const before = a.label;
    store.update(a.id, { label: after }).then(
      () => undo.push({ kind: "relabel", imageId: state.imageId, undo: () => store.update(a.id, { label: before }), redo: () => store.update(a.id, { label: after }) }),
      (err) => notices.show("save", `Label not changed: ${err.message}`),
    );
  }

  return { accept, saveNew, saveEdit, deleteAnnotation, relabel, actions: { accept: () => accept() } };
}
