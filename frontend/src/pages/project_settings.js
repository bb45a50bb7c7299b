// Project settings: rename and describe, labels (add, rename, recolour, delete), and deleting
// the project (owners), each confirmation saying what would be lost.
import { api, listAll } from "../ui/api.js";
import { confirmDialog, el, fmtInt, manageRoot, markReady, say, sayError } from "../ui/manage.js";
import { routes } from "../ui/routes.js";
import { attributeSettings } from "../ui/attribute_settings.js";

const { projectId } = manageRoot();
const tbody = document.querySelector("#labels tbody");
const attributes = attributeSettings(projectId);

const form = document.getElementById("project-form");
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    const p = await api(routes.project(projectId), {
      method: "PATCH",
      body: { name: form.name.value.trim(), description: form.description.value },
    });
    document.getElementById("project-name").textContent = p.name;
    say("Saved.");
  } catch (err) {
    sayError("Could not save", err);
  }
});

function labelRow(label) {
  const color = el("input", { type: "color", value: label.color, "aria-label": `colour of ${label.name}` });
  const name = el("input", { type: "text", value: label.name, maxlength: "100", "aria-label": "label name" });
  const save = el("button", { type: "button" }, "Save");
  const del = el("button", { type: "button", class: "danger" }, "Delete…");
  const kind = el("td", { class: "muted" }, label.kind === "tag" ? "image tag" : "object");
  const tr = el("tr", { dataset: { labelId: String(label.id) } }, el("td", {}, color), el("td", {}, name), kind, el("td", {}, save, " ", del));
  save.addEventListener("click", async () => {
    try {
      const updated = await api(routes.label(projectId, label.id), {
        method: "PATCH",
        body: { name: name.value.trim(), color: color.value },
      });
      label.name = updated.name;
      say(`Label “${updated.name}” saved.`);
    } catch (err) {
      sayError("Could not save the label", err);
    }
  });
  del.addEventListener("click", async () => {
    const ok = await confirmDialog({
      title: `Delete the label “${label.name}”?`,
      body: "Every annotation with this label, on every image of the project, is deleted with it.",
    });
    if (!ok) return;
    try {
      await api(routes.label(projectId, label.id), { method: "DELETE" });
      tr.remove();
      say(`Label “${label.name}” deleted.`);
    } catch (err) {
      sayError("Could not delete the label", err);
    }
  });
  return tr;
}

async function loadLabels() {
  try {
    const labels = await listAll(routes.labels(projectId));
    tbody.replaceChildren(...labels.map(labelRow));
    attributes.setLabels(labels);
  } catch (err) {
    sayError("Could not load the labels", err);
  }
}

const addForm = document.getElementById("label-add");
addForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    const label = await api(routes.labels(projectId), {
      method: "POST",
      body: { name: addForm.name.value.trim(), color: addForm.color.value, kind: addForm.kind.value },
    });
    tbody.append(labelRow(label));
    attributes.addLabel(label);
    addForm.name.value = "";
    say(`Label “${label.name}” added.`);
  } catch (err) {
    sayError("Could not add the label", err);
  }
});

const del = document.getElementById("delete-project");
del?.addEventListener("click", async () => {
  const name = document.getElementById("project-name").textContent;
  let count = "all";
  try {
    // The page's count of what goes: one row is enough to read the total.
    count = fmtInt((await api(routes.images(projectId, { limit: 1 }))).count);
  } catch {
    // The confirmation still says what is lost, without the number.
  }
  const ok = await confirmDialog({
    title: `Delete “${name}”?`,
    body: [
      `This deletes ${count} image(s) with all their annotations, the embeddings, every job and export file, and the members' access.`,
      "It cannot be undone.",
    ],
    confirm: "Delete the project",
    typeToConfirm: name,
  });
  if (!ok) return;
  try {
    await api(routes.project(projectId), { method: "DELETE" });
    location.href = "/";
  } catch (err) {
    sayError("Could not delete the project", err);
  }
});

markReady();
loadLabels().then(() => attributes.load());
