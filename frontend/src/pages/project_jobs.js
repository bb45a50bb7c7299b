// Every job of the project with its progress, its error in words and its result to download,
// and the embeddings' progress; polled while any of it is pending or running. Export, import and auto-annotate start from here.
import { api, listAll } from "../ui/api.js";
import { autoAnnotateDialog, exportDialog, importDialog } from "../ui/job_dialogs.js";
import { el, fmtInt, manageRoot, markReady, say, sayError } from "../ui/manage.js";
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
    el("td", {}, bar, " ", progressText(job), ...skippedNote(job)),
    el("td", { class: job.error ? "error" : "" }, result),
  );
  return tr;
}

// Images the job left alone (accepted, submitted, locked by someone else), with the reasons on hover.
function skippedNote(job) {
  if (!job.skipped?.length) return [];
  const why = job.skipped.map((row) => `${row.name}: ${row.reason}`).join("\n");
  return [" ", el("span", { class: "muted skipped", title: why }, `${job.skipped.length} image(s) skipped`)];
}

// The embedding batch of every upload, as the project's counts of images in each state.
async function loadEmbeddings() {
  const stats = await api(routes.stats(projectId));
  const total = stats.images;
  const { ready = 0, running = 0, pending = 0, failed = 0 } = stats.embeddings;
  const parts = [`${fmtInt(ready)} of ${fmtInt(total)} images embedded`];
  if (running) parts.push(`${fmtInt(running)} computing`);
  if (pending) parts.push(`${fmtInt(pending)} waiting`);
  if (failed) parts.push(`${fmtInt(failed)} failed`);
  const line = document.getElementById("embedding-line");
  line.textContent = parts.join(" · ");
  line.className = failed ? "bad" : "";
  const bar = document.getElementById("embedding-bar");
  bar.max = Math.max(1, total);
  bar.value = ready;
  const retry = document.getElementById("retry-failed");
  retry.hidden = !failed;
  retry.textContent = `Retry the ${fmtInt(failed)} failed`;
  return running + pending > 0;
}

document.getElementById("retry-failed").addEventListener("click", async (event) => {
  event.target.disabled = true;
  try {
    const failed = await listAll(routes.images(projectId, { embedding: "failed", limit: 100 }));
    for (const image of failed) await api(routes.embedding(image.id), { method: "POST" });
    say(`Asked again for ${fmtInt(failed.length)} embedding(s).`);
  } catch (err) {
    sayError("Could not retry the embeddings", err);
  }
  event.target.disabled = false;
  load();
});

async function load() {
  clearTimeout(timer);
  try {
    const [jobs, embedding] = await Promise.all([listAll(routes.jobs(projectId)), loadEmbeddings()]);
    tbody.replaceChildren(...(jobs.length ? jobs.map(jobRow) : [el("tr", {}, el("td", { colspan: "6", class: "muted" }, "No jobs yet."))]));
    if (jobs.some(isActive)) timer = setTimeout(load, 2000);
    // Embeddings take seconds each on a worker: a slower look is enough.
    else if (embedding) timer = setTimeout(load, 5000);
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
