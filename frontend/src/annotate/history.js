// The History panel: the versions of the selected annotation (who, when, what changed), or, with
// none selected, of every annotation of the image, deleted ones included, so that a deletion can
// be taken back. Y opens it and puts the focus in the list (a listbox: the arrows pick a version,
// Enter reverts to it, Esc gives the keys back to the page); a button does the same by mouse.
// A revert is the server's (services/revert.py): the same lock, review and version checks as an
// edit, so a stale page gets a 409 and reloads the annotation instead of overwriting. Ctrl+Z takes
// a revert back as it does an edit: a revert to the version it replaced (or, for a deleted
// annotation it restored, a delete); Ctrl+Shift+Z reverts again.
import { describe, revertTo, versions } from "../ui/history.js";
import { $ } from "./dom.js";

export function createHistory({ state, store, notices, drawing, panels, undo }) {
  let rows = [];
  let subject = null; // the annotation id shown, or null for the whole image

  async function show({ focus = true } = {}) {
    subject = state.selectedId ?? null;
    const list = $("history-list");
    $("history-state").textContent = "loading…";
    try {
      rows = await versions(state.imageId, subject ?? undefined);
    } catch (err) {
      rows = [];
      $("history-state").textContent = "";
      return notices.show("history", `The history could not be loaded: ${err.message}`);
    }
    list.replaceChildren(
      ...rows.map((v, i) => {
        const option = document.createElement("option");
        option.value = String(i);
        option.textContent = describe(v, { withId: subject === null });
        option.title = option.textContent; // the panel is narrow: the whole line on hover
        option.dataset.annotationId = v.annotation_id;
        option.dataset.version = v.version;
        return option;
      }),
    );
    list.hidden = !rows.length;
    if (rows.length) list.selectedIndex = Math.min(1, rows.length - 1); // the version before the last
    $("history-state").textContent = rows.length
      ? subject === null ? "every annotation of this image, newest first" : `annotation #${subject}, newest first`
      : "no history yet";
    $("history-revert").hidden = !rows.length || state.readOnly;
    if (focus && rows.length) list.focus();
  }

  async function revert() {
    const v = rows[$("history-list").selectedIndex];
    if (!v) return;
    if (state.readOnly) return notices.show("readonly", "This image is read-only for you; nothing was reverted.", { level: "info" });
    const current = store.get(v.annotation_id);
    try {
      await revertAndShow(v.annotation_id, v.version);
    } catch (err) {
      notices.show("history", `Not reverted: ${err.message}`);
      // Someone saved it meanwhile: show theirs, so the next try starts from it.
      if (err.status === 409 && current) await store.refresh(current.id).catch(() => {});
      return show();
    }
    notices.clear("history");
    const id = v.annotation_id;
    const replaced = current?.version; // undefined: the revert restored a deleted annotation
    undo.push({
      kind: "revert", imageId: state.imageId,
      undo: () => (replaced === undefined ? removeAndShow(id) : revertAndShow(id, replaced)),
      redo: () => revertAndShow(id, v.version),
    });
    // The list, reloaded, says it on its first row ("v5 reverted to v3 by ...").
    await show();
  }

  async function revertAndShow(id, to) {
    const a = await revertTo(state.imageId, { annotation: id, to, version: store.get(id)?.version });
    store.adopt(a);
    state.selectedId = a.id;
    drawing.redraw();
    panels.renderAnnotationList();
  }

  async function removeAndShow(id) {
    await store.remove(id);
    if (state.selectedId === id) state.selectedId = null;
    drawing.redraw();
    panels.renderAnnotationList();
  }

  function reset() {
    rows = [];
    subject = null;
    $("history-list").replaceChildren();
    $("history-list").hidden = true;
    $("history-revert").hidden = true;
    $("history-state").textContent = "select an annotation and press Y";
  }

  // In the list, Enter reverts (the page's own Enter, accept, is off while a field has the focus).
  $("history-list").addEventListener("keydown", (e) => {
    if (e.key !== "Enter") return;
    e.preventDefault();
    revert();
  });

  return { reset, actions: { history: () => show(), "history-revert": revert } };
}
