// The dataset: uploads (drop files, folders, zips; one request per file with its own progress
// and refusal), and the images as a table or a grid of thumbnails, with filters, pages and bulk
// actions on a selection or on everything the filters match (one request: the server applies
// the same filters as the list, POST images/bulk).
import { api, csrfToken, listAll } from "../ui/api.js";
import { exportDialog } from "../ui/job_dialogs.js";
import { confirmDialog, el, errorText, fmtInt, manageRoot, markReady, say, sayError } from "../ui/manage.js";
import { routes } from "../ui/routes.js";
import { droppedFiles, overall, uploadOne, worthSending } from "../ui/uploads.js";
import { STATUS_TEXT } from "../ui/workflow.js";

const { projectId } = manageRoot();
const $ = (id) => document.getElementById(id);
let members = new Map(); // user id -> username
let pageImages = [];
const selected = new Set();

// ---- Uploads ----------------------------------------------------------------------------------

const sizeText = (n) => (n > 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${Math.ceil(n / 1e3)} kB`);

async function upload(files) {
  const sendable = files.filter(worthSending);
  const skipped = files.filter((f) => !worthSending(f));
  const tbody = $("uploads").querySelector("tbody");
  $("uploads").hidden = false;
  $("upload-summary").hidden = false;
  for (const f of skipped) {
    tbody.append(el("tr", { class: "refused" }, el("td", {}, f.webkitRelativePath || f.name), el("td", {}, sizeText(f.size)), el("td", {}), el("td", { class: "bad" }, "Skipped: not an image or a zip archive.")));
  }
  const progress = sendable.map((file) => {
    const bar = el("progress", { max: "1", value: "0" });
    const result = el("td", { class: "muted" }, "waiting");
    const tr = el("tr", { dataset: { name: file.name } }, el("td", {}, file.webkitRelativePath || file.name), el("td", {}, sizeText(file.size)), el("td", {}, bar), result);
    tbody.append(tr);
    return { file, bar, result, tr, loaded: 0, size: file.size || 1 };
  });
  const status = $("upload-status");
  const overallBar = $("upload-overall");
  let added = 0;
  let refused = skipped.length;
  const update = () => {
    overallBar.value = overall(progress);
    status.textContent = `${fmtInt(added)} image(s) added, ${fmtInt(refused)} file(s) refused`;
  };
  update();
  // Two at a time: the server normalises each image as it arrives, so more would only queue.
  const queue = [...progress];
  const worker = async () => {
    for (let p = queue.shift(); p; p = queue.shift()) {
      p.result.textContent = "uploading…";
      const outcome = await uploadOne(routes.images(projectId), p.file, csrfToken(), (loaded) => {
        p.loaded = loaded;
        p.bar.value = Math.min(1, loaded / p.size);
        update();
      });
      p.loaded = p.size;
      p.bar.value = 1;
      if (outcome.ok) {
        added += outcome.images.length;
        p.result.className = "ok";
        p.result.textContent = `added ${outcome.images.length} image(s)`;
        p.tr.classList.add("added");
      } else {
        refused += 1;
        p.result.className = "bad";
        p.result.textContent = `Refused: ${outcome.detail}`;
        p.tr.classList.add("refused");
      }
      update();
    }
  };
  await Promise.all([worker(), worker()]);
  overallBar.value = 1;
  status.textContent += " · done";
  $("upload-summary").dataset.done = "true";
  loadImages();
}

const zone = $("dropzone");
zone.addEventListener("dragover", (e) => {
  e.preventDefault();
  zone.classList.add("over");
});
zone.addEventListener("dragleave", () => zone.classList.remove("over"));
zone.addEventListener("drop", async (e) => {
  e.preventDefault();
  zone.classList.remove("over");
  upload(await droppedFiles(e.dataTransfer));
});
for (const id of ["pick-files", "pick-folder"]) {
  $(id).addEventListener("change", (e) => {
    upload([...e.target.files]);
    e.target.value = "";
  });
}

// ---- The images table -------------------------------------------------------------------------

const filterForm = $("filters");
let offset = 0;

function query() {
  const f = filterForm;
  const nobody = f.assignee.value === "none";
  return {
    search: f.search.value.trim(),
    status: f.status.value,
    assignee: nobody ? "" : f.assignee.value,
    unassigned: nobody ? "true" : "",
    label: f.label.value,
    embedding: f.embedding.value,
    ordering: f.ordering.value === "id" ? "" : f.ordering.value,
    limit: f.limit.value,
    offset,
  };
}

function row(image) {
  const box = el("input", { type: "checkbox", "aria-label": `select ${image.original_name}`, checked: selected.has(image.id) });
  box.addEventListener("change", () => {
    if (box.checked) selected.add(image.id);
    else selected.delete(image.id);
    updateBulk();
  });
  const thumb = el("img", { src: routes.thumbnail(image.id), alt: "", loading: "lazy", decoding: "async" });
  const link = el("a", { href: routes.annotatePage(image.id) }, image.original_name);
  const assignee = image.assignee ? members.get(image.assignee) ?? `user ${image.assignee}` : "";
  return el(
    "tr",
    { dataset: { imageId: String(image.id), status: image.status } },
    el("td", {}, box),
    el("td", {}, thumb),
    el("td", {}, link),
    el("td", {}, STATUS_TEXT[image.status] ?? image.status),
    el("td", {}, `${image.width}×${image.height}`),
    el("td", {}, image.annotation_count ?? ""),
    el("td", { class: "assignee" }, assignee),
    el("td", {}, image.embedding_status ?? "not requested"),
  );
}

// The grid: the same page of images as thumbnails (made once by the server, cached for good).
function card(image) {
  const box = el("input", { type: "checkbox", "aria-label": `select ${image.original_name}`, checked: selected.has(image.id) });
  box.addEventListener("change", () => {
    if (box.checked) selected.add(image.id);
    else selected.delete(image.id);
    updateBulk();
  });
  const thumb = el("img", { src: routes.thumbnail(image.id), alt: image.original_name, loading: "lazy", decoding: "async" });
  return el(
    "figure",
    { class: "card", dataset: { imageId: String(image.id), status: image.status } },
    el("a", { href: routes.annotatePage(image.id) }, thumb),
    el("figcaption", {}, box, " ", image.original_name, el("br"), el("span", { class: "muted" }, STATUS_TEXT[image.status] ?? image.status)),
  );
}

let lastCount = 0;

async function loadImages() {
  const tbody = $("images").querySelector("tbody");
  try {
    const page = await api(routes.images(projectId, query()));
    pageImages = page.results;
    lastCount = page.count;
    const grid = $("view-grid").checked;
    $("images").hidden = grid;
    $("grid").hidden = !grid;
    if (grid) $("grid").replaceChildren(...pageImages.map(card));
    else tbody.replaceChildren(...pageImages.map(row));
    const limit = Number(filterForm.limit.value);
    const first = page.count ? offset + 1 : 0;
    $("count").textContent = `${fmtInt(page.count)} image(s)`;
    $("page").textContent = `${fmtInt(first)}–${fmtInt(offset + pageImages.length)} of ${fmtInt(page.count)}`;
    $("prev").disabled = offset === 0;
    $("next").disabled = offset + limit >= page.count;
    $("select-all").checked = pageImages.length > 0 && pageImages.every((i) => selected.has(i.id));
  } catch (err) {
    $("count").textContent = `Could not load images: ${errorText(err)}`;
  }
  updateBulk();
}

filterForm.addEventListener("submit", (e) => e.preventDefault());
$("view-grid").addEventListener("change", () => loadImages());
function refilter() {
  offset = 0;
  selected.clear();
  loadImages();
}
filterForm.addEventListener("change", refilter);
// Typing in the name box filters after a pause, not on every key.
let typing = null;
filterForm.search.addEventListener("input", () => {
  clearTimeout(typing);
  typing = setTimeout(refilter, 300);
});
$("prev").addEventListener("click", () => {
  offset = Math.max(0, offset - Number(filterForm.limit.value));
  loadImages();
});
$("next").addEventListener("click", () => {
  offset += Number(filterForm.limit.value);
  loadImages();
});
$("select-all").addEventListener("change", (e) => {
  for (const i of pageImages) {
    if (e.target.checked) selected.add(i.id);
    else selected.delete(i.id);
  }
  for (const box of document.querySelectorAll("#images tbody input[type=checkbox], #grid input[type=checkbox]")) box.checked = e.target.checked;
  updateBulk();
});

// ---- Bulk actions: on the selection, or on everything the filters match ---------------------------

const scope = () => document.querySelector("input[name=scope]:checked").value;
const BULK = ["assign", "unassign", "recompute", "export-selection", "delete"];
function updateBulk() {
  const matching = scope() === "matching";
  const n = matching ? lastCount : selected.size;
  $("selected-count").textContent = `${selected.size} selected`;
  $("matching-count").textContent = fmtInt(lastCount);
  for (const id of BULK) $(id).disabled = n === 0;
  $("assign").disabled = n === 0 || !$("assignees").selectedOptions.length;
}
$("assignees").addEventListener("change", updateBulk);
for (const r of document.querySelectorAll("input[name=scope]")) r.addEventListener("change", updateBulk);

// The list's filters without its page and sort: what the server's bulk action matches.
function filtersNow() {
  const { offset: _o, limit: _l, ordering: _s, ...filters } = query();
  return Object.fromEntries(Object.entries(filters).filter(([, v]) => v !== ""));
}

function bulkBody(action, extra = {}) {
  if (scope() === "matching") return { action, filters: filtersNow(), ...extra };
  return { action, filters: {}, image_ids: [...selected], ...extra };
}

const scopeText = () => (scope() === "matching" ? `all ${fmtInt(lastCount)} image(s) matching the filters` : `${fmtInt(selected.size)} selected image(s)`);

async function bulk(action, extra, done) {
  $("bulk").dataset.busy = "true";
  try {
    const out = await api(routes.imagesBulk(projectId), { method: "POST", body: bulkBody(action, extra) });
    say(done(out));
    return out;
  } catch (err) {
    sayError(`Could not ${action} the images`, err);
    return null;
  } finally {
    delete $("bulk").dataset.busy;
    loadImages();
  }
}

$("assign").addEventListener("click", async () => {
  const users = [...$("assignees").selectedOptions].map((o) => Number(o.value));
  // Several people: the server shares the images out round-robin in upload order.
  await bulk("assign", { assignees: users }, (out) => {
    const parts = Object.entries(out.assigned).map(([u, n]) => `${members.get(Number(u)) ?? u}: ${fmtInt(n)}`);
    return `Assigned ${fmtInt(out.matched)} image(s) (${parts.join(", ")}).`;
  });
});
$("unassign").addEventListener("click", () => bulk("assign", { assignees: [null] }, (out) => `Unassigned ${fmtInt(out.matched)} image(s).`));
$("recompute").addEventListener("click", () =>
  bulk("recompute", {}, (out) => `Embeddings requested for ${fmtInt(out.matched)} image(s) (${fmtInt(out.enqueued)} queued).`),
);
$("delete").addEventListener("click", async () => {
  const text = scopeText();
  const ok = await confirmDialog({
    title: `Delete ${text}?`,
    body: "Each image is deleted with its annotations, its review history and its embedding, all in one step. This cannot be undone.",
    confirm: "Delete the images",
  });
  if (!ok) return;
  await bulk("delete", {}, (out) => `Deleted ${fmtInt(out.deleted)} image(s).`);
  selected.clear();
});
$("export-selection").addEventListener("click", async () => {
  let job = null;
  if (scope() === "matching") {
    const out = await bulk("export", { export: { format: $("bulk-format").value } }, (o) => `Export of ${fmtInt(o.matched)} image(s) started.`);
    job = out && { id: out.job };
  } else {
    job = await exportDialog(projectId, { imageIds: [...selected] });
  }
  if (job) {
    const link = el("a", { href: routes.jobsPage(projectId) }, "the jobs page");
    const box = $("messages");
    box.replaceChildren(el("p", { class: "notice" }, `Export job #${job.id} started; follow it and download the result on `, link, "."));
  }
});

async function loadLabels() {
  try {
    for (const l of await listAll(routes.labels(projectId))) filterForm.label.append(el("option", { value: String(l.id) }, l.name));
  } catch (err) {
    sayError("Could not load the labels", err);
  }
}

async function loadMembers() {
  try {
    const list = await listAll(routes.members(projectId));
    members = new Map(list.map((m) => [m.user, m.username]));
    const assignee = filterForm.assignee;
    const choose = $("assignees");
    for (const m of list) {
      assignee.append(el("option", { value: String(m.user) }, m.username));
      // Anyone who can annotate can be assigned; viewers cannot work on an image.
      if (m.role !== "viewer") choose.append(el("option", { value: String(m.user) }, `${m.username} (${m.role})`));
    }
  } catch (err) {
    sayError("Could not load the members", err);
  }
}

markReady();
await Promise.all([loadMembers(), loadLabels()]);
await loadImages();
