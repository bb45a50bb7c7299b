// Creating a project: name, description, labels with colours and the SAM model, in one POST.
import { api } from "../ui/api.js";
import { el, sayError } from "../ui/manage.js";
import { routes } from "../ui/routes.js";

const PALETTE = ["#f97316", "#3b82f6", "#22c55e", "#eab308", "#a855f7", "#ef4444", "#14b8a6", "#ec4899"];
const form = document.getElementById("new-project");
const list = document.getElementById("labels");

function addLabel(name = "") {
  const color = PALETTE[list.children.length % PALETTE.length];
  const remove = el("button", { type: "button", "aria-label": "remove label" }, "✕");
  const row = el(
    "div",
    { class: "label-row" },
    el("input", { type: "color", name: "label-color", value: color, "aria-label": "label colour" }),
    el("input", { type: "text", name: "label-name", value: name, placeholder: "label name", maxlength: "100" }),
    remove,
  );
  remove.addEventListener("click", () => row.remove());
  list.append(row);
  row.querySelector("input[type=text]").focus();
}

document.getElementById("add-label").addEventListener("click", () => addLabel());
addLabel();

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const labels = [...list.querySelectorAll(".label-row")]
    .map((row) => ({
      name: row.querySelector("[name=label-name]").value.trim(),
      color: row.querySelector("[name=label-color]").value,
    }))
    .filter((l) => l.name);
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const project = await api(routes.projects(), {
      method: "POST",
      body: {
        name: form.name.value.trim(),
        description: form.description.value,
        labels,
        sam_checkpoint: form.sam_checkpoint.value,
      },
    });
    location.href = routes.datasetPage(project.id);
  } catch (err) {
    sayError("Could not create the project", err);
    button.disabled = false;
  }
});
// Wired: a submit before this would be the browser's own GET of the form.
form.dataset.ready = "true";
