// The project settings' Attributes panel: the label attributes every object carries (CVAT's),
// listed with their type, label, choices and default; added, edited (name, choices, default)
// and deleted by managers. The server checks every definition (services/attributes.py).
import { api, listAll } from "./api.js";
import { confirmDialog, el, say, sayError } from "./manage.js";
import { routes } from "./routes.js";

// The default as typed, in the attribute's type: "" is none.
export function parseDefault(type, text) {
  const t = text.trim();
  if (t === "") return null;
  if (type === "checkbox") return t === "true" || t === "yes" || t === "1";
  if (type === "number") return Number(t);
  return t;
}

const choicesOf = (text) => text.split(",").map((c) => c.trim()).filter(Boolean);

export function attributeSettings(projectId) {
  const tbody = document.querySelector("#attributes tbody");
  const form = document.getElementById("attribute-add");
  const labelNames = new Map();

  function row(a) {
    const name = el("input", { type: "text", value: a.name, maxlength: "100", "aria-label": "attribute name" });
    const choices = el("input", { type: "text", value: a.choices.join(", "), disabled: a.type !== "select", "aria-label": `choices of ${a.name}` });
    const def = el("input", { type: "text", value: a.default === null ? "" : String(a.default), "aria-label": `default of ${a.name}` });
    const save = el("button", { type: "button" }, "Save");
    const del = el("button", { type: "button", class: "danger" }, "Delete…");
    const label = a.label === null ? "every object label" : labelNames.get(a.label) ?? `#${a.label}`;
    const tr = el("tr", { dataset: { attributeId: String(a.id) } },
      el("td", {}, name), el("td", {}, a.type), el("td", {}, label), el("td", {}, choices), el("td", {}, def), el("td", {}, save, " ", del));
    save.addEventListener("click", async () => {
      const body = { name: name.value.trim(), default: parseDefault(a.type, def.value) };
      if (a.type === "select") body.choices = choicesOf(choices.value);
      try {
        Object.assign(a, await api(routes.attribute(projectId, a.id), { method: "PATCH", body }));
        say(`Attribute “${a.name}” saved.`);
      } catch (err) {
        sayError("Could not save the attribute", err);
      }
    });
    del.addEventListener("click", async () => {
      const ok = await confirmDialog({ title: `Delete the attribute “${a.name}”?`, body: "Its value is removed from every object of the project." });
      if (!ok) return;
      try {
        await api(routes.attribute(projectId, a.id), { method: "DELETE" });
        tr.remove();
        say(`Attribute “${a.name}” deleted.`);
      } catch (err) {
        sayError("Could not delete the attribute", err);
      }
    });
    return tr;
  }

  function addLabel(label) {
    if (label.kind !== "object") return;
    labelNames.set(label.id, label.name);
    form.label.append(el("option", { value: String(label.id) }, label.name));
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const type = form.type.value;
    const body = { name: form.name.value.trim(), type, default: parseDefault(type, form.default.value) };
    if (type === "select") body.choices = choicesOf(form.choices.value);
    if (form.label.value) body.label = Number(form.label.value);
    try {
      const a = await api(routes.attributes(projectId), { method: "POST", body });
      tbody.append(row(a));
      form.name.value = form.choices.value = form.default.value = "";
      say(`Attribute “${a.name}” added.`);
    } catch (err) {
      sayError("Could not add the attribute", err);
    }
  });

  return {
    setLabels: (labels) => labels.forEach(addLabel),
    addLabel,
    load: async () => {
      try {
        tbody.replaceChildren(...(await listAll(routes.attributes(projectId))).map(row));
      } catch (err) {
        sayError("Could not load the attributes", err);
      }
    },
  };
}
