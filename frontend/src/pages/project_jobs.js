// Every job of the project with its progress, its error in words, its result to download and
// cancel / retry, and the embeddings as one line of work; polled while any of it is pending or
// running. Export, import, auto-annotate, find-by-text and everything mode start from here.
import { api, listAll } from "../ui/api.js";
import { exportDialog } from "../ui/job_dialogs.js";
import { autoAnnotateDialog, importDialog } from "../ui/work_dialogs.js";
import { textJobDialog } from "../ui/text_dialog.js";
import { everythingDialog } from "../ui/everything_dialog.js";
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
  const stopping = job.status === "running" && job.cancel_requested;
  const status = el("td", { class: job.status === "failed" ? "bad" : job.status === "done" ? "ok" : "" }, stopping ? "cancelling…" : job.status);
  const tr = el(
    "tr",
    { dataset: { jobId: String(job.id), status: job.status, kind: job.kind } },
    el("td", {}, `#${job.id}`),
    el("td", {}, jobTitle(job), job.retry_of ? el("span", { class: "muted" }, ` · retry of #${job.retry_of}`) : ""),
    el("td", {}, new Date(job.created_at).toLocaleString()),
    status,
    el("td", {}, bar, " ", progressText(job), ...skippedNote(job)),
    el("td", { class: job.error ? "error" : "" }, result),
    el("td", {}, ...jobActions(job, stopping)),
  );
  return tr;
}

// Images the job left alone (accepted, submitted, locked by someone else), with the reasons on hover.
function skippedNote(job) {
  if (!job.skipped?.length) return [];
  const why = job.skipped.map((row) => `${row.name}: ${row.reason}`).join("\n");
  return [" ", el("span", { class: "muted skipped", title: why }, `${job.skipped.length} image(s) skipped`)];
}

// Cancel while it waits or runs (a running job stops before its next image); retry once it
// failed or was cancelled, as a new job (the old row keeps its error).
function jobActions(job, stopping) {
  const act = (text, cls, url, done) => {
    const button = el("button", { type: "button", class: cls }, text);
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        say(done(await api(url, { method: "POST" })));
      } catch (err) {
        sayError(`Could not ${text.toLowerCase()} job #${job.id}`, err);
      }
      load();
    });
    return button;
  };
  if (isActive(job) && !stopping) return [act("Cancel", "cancel", routes.jobCancel(job.id), (j) => (j.status === "cancelled" ? `Job #${j.id} cancelled before it started.` : `Job #${j.id} stops after its current image.`))];
  if (job.status === "failed" || job.status === "cancelled") return [act("Retry", "retry", routes.jobRetry(job.id), (j) => `Job #${job.id} runs again as job #${j.id}.`)];
  return [];
}

// The embedding batch of every upload as one line: the project's images in each state, and the
// commonest reasons of failures in the worker's words.
async function loadEmbeddings() {
  const summary = await api(routes.embeddingSummary(projectId));
  const { images: total, ready, running, pending, failed, none } = summary;
  const parts = [`${fmtInt(ready)} of ${fmtInt(total)} images embedded`];
  if (running) parts.push(`${fmtInt(running)} computing`);
  if (pending) parts.push(`${fmtInt(pending)} waiting`);
  if (failed) parts.push(`${fmtInt(failed)} failed`);
  if (none) parts.push(`${fmtInt(none)} not requested`);
  const line = document.getElementById("embedding-line");
  line.textContent = parts.join(" · ");
  line.className = failed ? "bad" : "";
  document.getElementById("embedding-errors").replaceChildren(...summary.errors.map((e) => el("li", { class: "error" }, `${fmtInt(e.count)} × ${e.error}`)));
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
    tbody.replaceChildren(...(jobs.length ? jobs.map(jobRow) : [el("tr", {}, el("td", { colspan: "7", class: "muted" }, "No jobs yet."))]));
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
document.getElementById("start-auto").addEventListener("click", async () => {
  try {
    if (await autoAnnotateDialog(projectId, await labels())) load();
  } catch (err) {
    sayError("Could not open auto-annotation", err);
  }
});
document.getElementById("start-text").addEventListener("click", async () => {
  try {
    if (await textJobDialog(projectId, await labels())) load();
  } catch (err) {
    sayError("Could not open find by text", err);
  }
});
document.getElementById("start-everything").addEventListener("click", async () => {
  try {
    if (await everythingDialog(projectId, await labels())) load();
  } catch (err) {
    sayError("Could not open everything mode", err);
  }
});

// Jobs of this project started elsewhere (another tab, a colleague) show up on the next poll.
document.addEventListener("visibilitychange", () => document.visibilityState === "visible" && load());
markReady();
load();
