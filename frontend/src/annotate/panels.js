// The side panels that follow the state: the project's labels (a number key picks one, and
// relabels the selected annotation) and the image's annotations (a click selects one to edit).
import * as sidebar from "../ui/sidebar.js";
import { $ } from "./dom.js";

export function createPanels({ state, store, drawing, tools, saving }) {
  const listeners = []; // () => void, after each render of the list (the selection may have moved)

  // Object labels only: the number keys pick among them; tag labels name whole images
  // (annotate/tags_panel.js). Every label stays in state.labels, for drawing and lookups.
  function setLabels(labels) {
    state.labelOrder = labels.filter((l) => (l.kind ?? "object") === "object").map((l) => l.id);
    state.labels = new Map(labels.map((l) => [l.id, l]));
    renderLabels();
  }

  function selectLabel(i) {
    if (i >= state.labelOrder.length) return;
    state.labelIndex = i;
    renderLabels();
    drawing.redraw();
    // With an annotation selected, a number key relabels it.
    const sel = store.get(state.selectedId);
    if (sel && !state.readOnly && sel.label !== state.labelOrder[i]) saving.relabel(sel, state.labelOrder[i]);
  }

  function renderLabels() {
    sidebar.labels($("labels"), { order: state.labelOrder, labels: state.labels, current: state.labelIndex, pick: selectLabel });
  }

  function renderAnnotationList() {
    sidebar.annotations($("annotation-list"), {
      list: store.list,
      labels: state.labels,
      selectedId: state.selectedId,
      pick: (id) => {
        state.selectedId = id;
        tools.setMode("select");
        drawing.redraw();
        renderAnnotationList();
      },
    });
    for (const listener of listeners) listener();
  }

  // Highlights an annotation without changing the tool (a proposal under the mouse).
  function highlight(id) {
    state.selectedId = id;
    drawing.drawBase();
    renderAnnotationList();
  }

  return {
    setLabels, renderAnnotationList, highlight, actions: { label: (i) => selectLabel(i) },
    onListRender: (listener) => listeners.push(listener),
  };
}
