// The keyboard and the buttons. Shortcuts come from one table (ui/keys.js), which also fills the
// ? overlay; each names an action, as each button's data-action does. The page's parts bring
// their own actions (addActions); the ones here are about the page as a whole.
import * as P from "../ui/prompts.js";
import { actionFor, helpTable } from "../ui/keys.js";
import { $ } from "./dom.js";

export function createControls({ state, root, view, tools, drawing, prompting, panels, undo, notices }) {
  function toggleHelp() {
    const help = $("help");
    if (!$("help-table").firstChild) $("help-table").appendChild(helpTable());
    help.hidden = !help.hidden;
  }

  async function runUndo(which) {
    try {
      await undo[which]();
    } catch (err) {
      notices.show("undo", `Could not ${which}: ${err.message}`);
    }
    drawing.redraw();
  }

  function syncButtons() {
    document.querySelector("[data-action=undo]").disabled = !undo.canUndo;
    document.querySelector("[data-action=redo]").disabled = !undo.canRedo;
  }

  const actions = {
    // Esc undoes the nearest thing: the help overlay, then the SAM object, then the selection.
    clear: () => {
      if (!$("help").hidden) return toggleHelp();
      if (!P.isEmpty(state.prompts) || state.hover) return prompting.clearPrompts();
      state.selectedId = null;
      drawing.redraw();
      panels.renderAnnotationList();
    },
    blur: () => document.activeElement?.blur(),
    undo: () => runUndo("undo"),
    redo: () => runUndo("redo"),
    toggleAnnotations: () => {
      state.show = !state.show;
      $("show-annotations").checked = state.show;
      drawing.drawBase();
    },
    fit: () => {
      view.fit(state.image.width, state.image.height);
      drawing.redraw();
    },
    help: () => toggleHelp(),
  };

  // The active tool gets the first say (annotate/tools.js, `keys`), then the page.
  function run(name, arg) {
    if (tools.active()?.keys?.[name]?.(arg)) return;
    actions[name]?.(arg);
  }

  window.addEventListener("keydown", (e) => {
    const hit = actionFor(e);
    if (!hit || !(actions[hit.action] || tools.active()?.keys?.[hit.action])) return;
    e.preventDefault();
    run(hit.action, hit.arg);
  });

  root.addEventListener("click", (e) => {
    const button = e.target.closest("button[data-action]");
    if (button) run(button.dataset.action);
    const mode = e.target.closest("button[data-mode]");
    if (mode) actions.mode?.(mode.dataset.mode);
  });

  $("show-annotations").addEventListener("change", (e) => {
    state.show = e.target.checked;
    drawing.drawBase();
  });

  return {
    syncButtons,
    // Actions by name: later ones replace earlier ones of the same name.
    addActions: (more) => Object.assign(actions, more),
  };
}
