// The project at a glance, from counts the API gives: a list's `count` with ?limit=1 for each
// status, each assignee and each embedding state.
import { api, listAll } from "../ui/api.js";
import { el, fmtInt, manageRoot, markReady, sayError } from "../ui/manage.js";
import { routes } from "../ui/routes.js";
import { STATUS_TEXT } from "../ui/workflow.js";

const { projectId } = manageRoot();

const count = async (filters) => (await api(routes.images(projectId, { ...filters, limit: 1 }))).count;
const bar = (part, whole) => el("span", { class: "bar", style: `width:${whole ? Math.round((120 * part) / whole) : 0}px` });

async function byStatus() {
  const total = await count({});
  const rows = await Promise.all(Object.keys(STATUS_TEXT).map(async (s) => [s, await count({ status: s })]));
  const tbody = document.querySelector("#by-status tbody");
  tbody.replaceChildren(
    ...rows.map(([s, n]) => el("tr", { dataset: { status: s } }, el("td", {}, STATUS_TEXT[s]), el("td", { class: "num" }, fmtInt(n)), el("td", {}, bar(n, total)))),
    el("tr", {}, el("th", {}, "All"), el("th", { class: "num" }, fmtInt(total)), el("th", {})),
  );
  return total;
}

async function byPerson() {
  const members = await listAll(routes.members(projectId));
  const workers = members.filter((m) => m.role !== "viewer");
  const rows = await Promise.all(
    workers.map(async (m) => {
      const [assigned, submitted, accepted] = await Promise.all([
        count({ assignee: m.user }),
        count({ assignee: m.user, status: "submitted" }),
        count({ assignee: m.user, status: "accepted" }),
      ]);
      return el("tr", { dataset: { userId: String(m.user) } }, el("td", {}, m.username), el("td", {}, m.role), el("td", { class: "num" }, fmtInt(assigned)), el("td", { class: "num" }, fmtInt(submitted)), el("td", { class: "num" }, fmtInt(accepted)));
    }),
  );
  document.querySelector("#by-person tbody").replaceChildren(...rows);
}

async function coverage(total) {
  const [ready, failed] = await Promise.all([count({ embedding: "ready" }), count({ embedding: "failed" })]);
  const text = document.getElementById("embedding-coverage");
  text.textContent = `${fmtInt(ready)} of ${fmtInt(total)} images embedded` + (failed ? `, ${fmtInt(failed)} failed` : "");
  text.className = "";
  const progress = document.getElementById("embedding-bar");
  progress.max = Math.max(1, total);
  progress.value = ready;
}

markReady();
try {
  const total = await byStatus();
  await Promise.all([byPerson(), coverage(total)]);
} catch (err) {
  sayError("Could not load the dashboard", err);
}
