// The project list (the home page): the caller's projects with their role and labels; with
// ?archived=true the archived ones (read-only until unarchived in their settings).
import { listAll } from "../ui/api.js";
import { routes } from "../ui/routes.js";

const archived = new URLSearchParams(location.search).get("archived") === "true";

async function main() {
  const ul = document.getElementById("projects");
  const toggle = document.getElementById("archived-link");
  if (toggle && archived) {
    toggle.href = "/";
    toggle.textContent = "← Active projects";
    document.querySelector("h1").textContent = "Archived projects";
  }
  let projects;
  try {
    projects = await listAll(routes.projects() + (archived ? "?archived=true" : ""));
  } catch (err) {
    ul.innerHTML = `<li class="notice error"></li>`;
    ul.firstChild.textContent = `Could not load projects: ${err.message}`;
    return;
  }
  ul.replaceChildren();
  if (!projects.length) {
    ul.innerHTML = archived
      ? `<li class="muted">No archived project.</li>`
      : `<li class="muted">You are not a member of any project yet.</li>`;
    return;
  }
  for (const p of projects) {
    const li = document.createElement("li");
    li.className = "card";
    li.dataset.projectId = String(p.id);
    const a = document.createElement("a");
    a.href = routes.imagesPage(p.id);
    a.textContent = p.name;
    const role = document.createElement("span");
    role.className = "badge";
    role.textContent = p.role ?? "";
    const desc = document.createElement("p");
    desc.className = "muted";
    desc.textContent = p.description || "";
    const labels = document.createElement("div");
    for (const l of p.labels ?? []) {
      const s = document.createElement("span");
      s.className = "label-chip";
      s.style.borderColor = l.color;
      s.textContent = l.name;
      labels.appendChild(s);
    }
    li.append(a, " ", role, desc, labels);
    ul.appendChild(li);
  }
}
main();
