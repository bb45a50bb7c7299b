// Project settings: rename and describe, labels (add, rename, recolour, reorder, delete),
// archiving, and deleting the project (owners), each confirmation saying what would be lost.
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

// The labels' order: moving a row sends the whole order (PUT labels/order), so the server
// holds exactly what the table shows; on a refusal the table is reloaded from the server.
async function move(tr, step) {
  const sibling = step < 0 ? tr.previousElementSibling : tr.nextElementSibling;
  if (!sibling) return;
  if (step < 0) sibling.before(tr);
  else sibling.after(tr);
  const ids = [...tbody.children].map((row) => Number(row.dataset.labelId));
  try {
    await api(routes.labelOrder(projectId), { method: "PUT", body: { label_ids: ids } });
    say("Label order saved.");
  } catch (err) {
    sayError("Could not reorder the labels", err);
    loadLabels();
  }
  numberRows();
}

function numberRows() {
  [...tbody.children].forEach((row, i) => {
    row.querySelector(".position").textContent = i < 9 ? `key ${i + 1}` : `${i + 1}`;
    row.querySelector(".up").disabled = i === 0;
    row.querySelector(".down").disabled = i === tbody.children.length - 1;
  });
}

function labelRow(label) {
  const color = el("input", { type: "color", value: label.color, "aria-label": `colour of ${label.name}` });
  const name = el("input", { type: "text", value: label.name, maxlength: "100", "aria-label": "label name" });
  const save = el("button", { type: "button" }, "Save");
  const del = el("button", { type: "button", class: "danger" }, "Delete…");
  const kind = el("td", { class: "muted" }, label.kind === "tag" ? "image tag" : "object");
  const up = el("button", { type: "button", class: "up", "aria-label": `move ${label.name} up`, title: "Move up" }, "↑");
  const down = el("button", { type: "button", class: "down", "aria-label": `move ${label.name} down`, title: "Move down" }, "↓");
  const position = el("span", { class: "position muted" });
  const tr = el("tr", { dataset: { labelId: String(label.id) } }, el("td", {}, up, down, " ", position), el("td", {}, color), el("td", {}, name), kind, el("td", {}, save, " ", del));
  up.addEventListener("click", () => move(tr, -1));
  down.addEventListener("click", () => move(tr, 1));
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
      numberRows();
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
    numberRows();
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
    numberRows();
    addForm.name.value = "";
    say(`Label “${label.name}” added.`);
  } catch (err) {
    sayError("Could not add the label", err);
  }
});

const del = document.getElementById("delete-project");
del?.addEventListener("click", async () => {
  const name = document.getElementById("project-name").textContent;
  let lost = "all its images, with all their annotations";
  try {
    // The counts of what goes, from the dashboard's aggregate queries.
    const stats = await api(routes.stats(projectId));
    lost = `${fmtInt(stats.images)} image(s), ${fmtInt(stats.annotations)} annotation(s) and the access of ${fmtInt(stats.people.length)} member(s)`;
  } catch {
    // The confirmation still says what is lost, without the numbers.
  }
  const ok = await confirmDialog({
    title: `Delete “${name}”?`,
    body: [
      `This deletes ${lost}, with the embeddings, every job and export file.`,
      "It cannot be undone. Archiving keeps everything and only stops changes.",
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

// Archive and unarchive: the one write an archived project takes besides its deletion.
const archiveButton = document.getElementById("archive-toggle");
function showArchived(project) {
  const archived = Boolean(project.archived_at);
  document.body.dataset.archived = String(archived);
  document.getElementById("archive-state").textContent = archived
    ? `Archived on ${new Date(project.archived_at).toLocaleString()}: read-only until unarchived.`
    : "Active: members can change it.";
  archiveButton.textContent = archived ? "Unarchive this project" : "Archive this project";
  archiveButton.disabled = false;
}
archiveButton.addEventListener("click", async () => {
  const archiving = document.body.dataset.archived !== "true";
  if (archiving) {
    const ok = await confirmDialog({
      title: "Archive this project?",
      body: "It leaves the project list and nobody can change it (annotate, upload, assign, edit labels or members) until it is unarchived here. Reading and exporting go on.",
      confirm: "Archive",
      danger: false,
    });
    if (!ok) return;
  }
  try {
    showArchived(await api(routes.project(projectId), { method: "PATCH", body: { archived: archiving } }));
    say(archiving ? "Project archived." : "Project unarchived.");
  } catch (err) {
    sayError("Could not change the archive state", err);
  }
});
api(routes.project(projectId)).then(showArchived, (err) => sayError("Could not load the project", err));

markReady();
loadLabels().then(() => attributes.load());
