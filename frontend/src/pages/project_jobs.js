// Every job of the project with its progress, its error in words and its result to download;
// polled while any is pending or running. Export, import and auto-annotate start from here.
import { listAll } from "../ui/api.js";
import { autoAnnotateDialog, exportDialog, importDialog } from "../ui/job_dialogs.js";
import { el, manageRoot, markReady, sayError } from "../ui/manage.js";
import { isActive, jobTitle, progressText } from "../ui/jobs.js";
import { routes } from "../ui/routes.js";

const { projectId } = manageRoot();
const tbody = document.querySelector("#jobs tbody");
let timer = null;

function jobRow(job) {
  const bar = el("progress", { max: String(job.total || 1), value: String(job.status === "done" ? job.total || 1 : job.done) });
  // A failed job says why in the result column, in the worker's words.
  const result = job.result_url
    ? el("a", { href: job.result_url, download: "", class: "download" }, "Download")
    : job.error
      ? el("span", { class: "error" }, job.error)
      : "";
  const status = el("td", { class: job.status === "failed" ? "bad" : job.status === "done" ? "ok" : "" }, job.status);
  const tr = el(
    "tr",
    { dataset: { jobId: String(job.id), status: job.status, kind: job.kind } },
    el("td", {}, `#${job.id}`),
    el("td", {}, jobTitle(job)),
    el("td", {}, new Date(job.created_at).toLocaleString()),
    status,
    el("td", {}, bar, " ", progressText(job)),
    el("td", { class: job.error ? "error" : "" }, result),
  );
  return tr;
}

async function load() {
  clearTimeout(timer);
  try {
    const jobs = await listAll(routes.jobs(projectId));
    tbody.replaceChildren(...(jobs.length ? jobs.map(jobRow) : [el("tr", {}, el("td", { colspan: "6", class: "muted" }, "No jobs yet."))]));
    if (jobs.some(isActive)) timer = setTimeout(load, 2000);
  } catch (err) {
    sayError("Could not load the jobs", err);
    timer = setTimeout(load, 10000);
  }
}

async function labels() {
  return listAll(routes.labels(projectId));
}

document.getElementById("start-export").addEventListener("click", async () => {
  if (await exportDialog(projectId)) load();
});
document.getElementById("start-import").addEventListener("click", async () => {
  try {
    const outcome = await importDialog(projectId, await labels());
    if (outcome?.job) load();
  } catch (err) {
    sayError("Could not open the import", err);
  }
});
const auto = document.getElementById("start-auto");
auto?.addEventListener("click", async () => {
  try {
    if (await autoAnnotateDialog(projectId, await labels(), auto.dataset.detectors.split(","))) load();
  } catch (err) {
    sayError("Could not open auto-annotation", err);
  }
});

// Jobs of this project started elsewhere (another tab, a colleague) show up on the next poll.
document.addEventListener("visibilitychange", () => document.visibilityState === "visible" && load());
markReady();
load();
