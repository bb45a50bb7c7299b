// The selected object's attributes (the project's definitions, ui/attribute_settings.js), as
// form fields in the sidebar: each change is saved at once (a PATCH of that one attribute, with
// undo); the server checks the value. Typing in a field is never a shortcut (ui/keys.js).
import { $ } from "./dom.js";

export function createAttributesPanel({ state, store, undo, notices }) {
  let shown = null; // "id:version:readOnly" of what the panel shows, so a redraw keeps focus

  const specsFor = (a) => (state.project?.attributes ?? []).filter((s) => s.label === null || s.label === a.label);

  function field(spec, value, set) {
    const common = { disabled: state.readOnly };
    let input;
    if (spec.type === "checkbox") {
      input = Object.assign(document.createElement("input"), { type: "checkbox", checked: value === true, ...common });
      input.addEventListener("change", () => set(input.checked));
    } else if (spec.type === "select") {
      input = Object.assign(document.createElement("select"), common);
      for (const choice of ["", ...spec.choices]) input.append(new Option(choice || "—", choice, false, choice === (value ?? "")));
      input.addEventListener("change", () => set(input.value || null));
    } else {
      const type = spec.type === "number" ? "number" : "text";
      input = Object.assign(document.createElement("input"), { type, value: value ?? "", ...common });
      input.addEventListener("change", () => set(input.value === "" ? null : type === "number" ? Number(input.value) : input.value));
    }
    input.dataset.attribute = spec.name;
    const label = document.createElement("label");
    label.append(input, " ", spec.name);
    if (spec.type !== "checkbox") label.replaceChildren(spec.name, " ", input);
    return label;
  }

  function render() {
    const box = $("attributes");
    const a = store.get(state.selectedId);
    const key = a ? `${a.id}:${a.version}:${state.readOnly}:${a.label}` : null;
    if (key === shown && key !== null) return;
    shown = key;
    box.replaceChildren();
    const specs = a ? specsFor(a) : [];
    if (!a || !specs.length) {
      box.className = "muted";
      box.textContent = a ? "no attributes for this label" : "select an object to set its attributes";
      return;
    }
    box.className = "";
    for (const spec of specs) {
      const row = document.createElement("div");
      row.append(field(spec, a.attributes?.[spec.name], (value) => save(a.id, spec.name, value)));
      box.append(row);
    }
  }

  async function save(id, name, value) {
    const before = store.get(id)?.attributes?.[name] ?? null;
    const set = (v) => store.update(id, { attributes: { [name]: v } });
    try {
      await set(value);
      notices.clear("attributes");
      undo.push({ kind: "attributes", imageId: state.imageId, undo: () => set(before), redo: () => set(value) });
    } catch (err) {
      notices.show("attributes", `Attribute “${name}” not saved: ${err.message}`);
      shown = null;
      render();
    }
  }

  return { render };
}
