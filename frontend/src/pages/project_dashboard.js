// The project at a glance, from one request: the API's project stats (images by status and by
// embedding state, annotations by label, each member's work: counts, and time from the gaps
// of at most 5 minutes between their actions, as the API's stats define it).
import { api } from "../ui/api.js";
import { el, fmtInt, manageRoot, markReady, sayError } from "../ui/manage.js";
import { routes } from "../ui/routes.js";
import { STATUS_TEXT } from "../ui/workflow.js";

const { projectId } = manageRoot();

const bar = (part, whole, color = "#3b82f6") =>
  el("span", { class: "bar", style: `width:${whole ? Math.round((120 * part) / whole) : 0}px;background:${color}` });
const num = (n) => el("td", { class: "num" }, fmtInt(n));
// 5400 s -> "1 h 30 min"; under a minute -> "45 s".
function duration(seconds) {
  if (seconds < 60) return `${seconds} s`;
  const h = Math.floor(seconds / 3600);
  const min = Math.round((seconds % 3600) / 60);
  return h ? `${h} h ${min} min` : `${min} min`;
}

function byStatus(stats) {
  document.querySelector("#by-status tbody").replaceChildren(
    ...Object.entries(stats.by_status).map(([s, n]) => el("tr", { dataset: { status: s } }, el("td", {}, STATUS_TEXT[s] ?? s), num(n), el("td", {}, bar(n, stats.images)))),
    el("tr", {}, el("th", {}, "All"), el("th", { class: "num" }, fmtInt(stats.images)), el("th", {})),
  );
}

function byLabel(stats) {
  const most = Math.max(1, ...stats.by_label.map((l) => l.count));
  document.querySelector("#by-label tbody").replaceChildren(
    ...stats.by_label.map((l) => el("tr", { dataset: { labelId: String(l.label) } }, el("td", {}, l.name), num(l.count), el("td", {}, bar(l.count, most, l.color)))),
    el("tr", {}, el("th", {}, "All"), el("th", { class: "num" }, fmtInt(stats.annotations)), el("th", {})),
  );
}

function byPerson(stats) {
  document.querySelector("#by-person tbody").replaceChildren(
    ...stats.people.map((p) => el("tr", { dataset: { userId: String(p.user) } }, el("td", {}, p.username), el("td", {}, p.role), num(p.assigned), num(p.submitted), num(p.accepted), num(p.annotations), num(p.actions), el("td", { class: "num time" }, duration(p.seconds)))),
  );
}

function coverage(stats) {
  const { ready = 0, failed = 0, pending = 0, running = 0 } = stats.embeddings;
  const parts = [`${fmtInt(ready)} of ${fmtInt(stats.images)} images embedded`];
  if (running + pending) parts.push(`${fmtInt(running + pending)} to do`);
  if (failed) parts.push(`${fmtInt(failed)} failed`);
  const text = document.getElementById("embedding-coverage");
  text.textContent = parts.join(" · ");
  text.className = "";
  const progress = document.getElementById("embedding-bar");
  progress.max = Math.max(1, stats.images);
  progress.value = ready;
}

markReady();
try {
  const stats = await api(routes.stats(projectId));
  byStatus(stats);
  byLabel(stats);
  byPerson(stats);
  coverage(stats);
} catch (err) {
  sayError("Could not load the dashboard", err);
}
