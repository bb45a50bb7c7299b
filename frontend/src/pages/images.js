// The images of one project: status, assignee, lock, annotation count and embedding state, with
// status and "assigned to me" filters kept in the URL so a filtered list can be shared.
import { api, listAll } from "../ui/api.js";
import { routes } from "../ui/routes.js";
import { STATUS_TEXT } from "../ui/workflow.js";

const root = document.getElementById("images-page");
const projectId = Number(root.dataset.projectId);
const userId = root.dataset.userId;

function filters() {
  const params = new URLSearchParams(location.search);
  return { status: params.get("status") ?? "", assignee: params.get("assignee") ?? "" };
}

function row(image) {
  const tr = document.createElement("tr");
  tr.dataset.imageId = String(image.id);
  tr.dataset.status = image.status;
  const link = document.createElement("a");
  link.href = routes.annotatePage(image.id);
  link.textContent = image.original_name;
  const locked = image.locked_by && image.locked_until && new Date(image.locked_until) > new Date();
  const cells = [
    link,
    STATUS_TEXT[image.status] ?? image.status,
    `${image.width}×${image.height}`,
    image.annotation_count ?? "",
    image.assignee ? (String(image.assignee) === userId ? "me" : `user ${image.assignee}`) : "",
    locked ? (String(image.locked_by) === userId ? "locked by me" : `locked by user ${image.locked_by}`) : "",
    image.embedding_status ?? "not requested",
  ];
  for (const c of cells) {
    const td = tr.insertCell();
    if (c instanceof Node) td.appendChild(c);
    else td.textContent = String(c);
  }
  return tr;
}

async function main() {
  const f = filters();
  const form = document.getElementById("filters");
  form.status.value = f.status;
  form.mine.checked = f.assignee === userId;
  // Here, not as an onsubmit attribute: the Content-Security-Policy allows no inline script.
  form.addEventListener("submit", (event) => event.preventDefault());
  form.addEventListener("change", () => {
    const params = new URLSearchParams();
    if (form.status.value) params.set("status", form.status.value);
    if (form.mine.checked) params.set("assignee", userId);
    location.search = params.toString();
  });
  const tbody = document.querySelector("#images tbody");
  try {
    const [project, images] = await Promise.all([api(routes.project(projectId)), listAll(routes.images(projectId, f))]);
    document.getElementById("project-name").textContent = project.name;
    tbody.replaceChildren(...images.map(row));
    document.getElementById("count").textContent = `${images.length} image(s)`;
  } catch (err) {
    document.getElementById("count").textContent = `Could not load images: ${err.message}`;
  }
}
main();
