// The dataset: uploads (drop files, folders, zips; one request per file with its own progress
// and refusal), and the images table with filters, pages and bulk actions on a selection.
import { api, csrfToken, listAll } from "../ui/api.js";
import { exportDialog } from "../ui/job_dialogs.js";
import { confirmDialog, el, errorText, fmtInt, manageRoot, markReady, say, sayError } from "../ui/manage.js";
import { routes } from "../ui/routes.js";
import { droppedFiles, overall, roundRobin, uploadOne, worthSending } from "../ui/uploads.js";
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
  const thumb = el("img", { src: image.file_url, alt: "", loading: "lazy", decoding: "async" });
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

async function loadImages() {
  const tbody = $("images").querySelector("tbody");
  try {
    const page = await api(routes.images(projectId, query()));
    pageImages = page.results;
    tbody.replaceChildren(...pageImages.map(row));
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
  for (const box of $("images").querySelectorAll("tbody input[type=checkbox]")) box.checked = e.target.checked;
  updateBulk();
});

// Every image the filters match, across pages: a bulk action on a filter is one on its images.
$("select-matching").addEventListener("click", async () => {
  try {
    const { offset: _, limit: __, ...filters } = query();
    for (const image of await listAll(routes.images(projectId, { ...filters, limit: 100 }))) selected.add(image.id);
    for (const box of $("images").querySelectorAll("tbody input[type=checkbox]")) box.checked = true;
    $("select-all").checked = true;
    updateBulk();
  } catch (err) {
    sayError("Could not select the matching images", err);
  }
});

// ---- Bulk actions on the selection --------------------------------------------------------------

const BULK = ["assign", "unassign", "recompute", "export-selection", "delete"];
function updateBulk() {
  $("selected-count").textContent = `${selected.size} selected`;
  for (const id of BULK) $(id).disabled = selected.size === 0;
  $("assign").disabled = selected.size === 0 || !$("assignees").selectedOptions.length;
}
$("assignees").addEventListener("change", updateBulk);

// One request per image (the API has no bulk endpoint): report how many went through and the
// first refusal in the API's words.
async function eachSelected(verb, call) {
  const ids = [...selected];
  let done = 0;
  const failures = [];
  for (const id of ids) {
    try {
      await call(id);
      done += 1;
    } catch (err) {
      failures.push(`image ${id}: ${errorText(err)}`);
    }
    $("selected-count").textContent = `${verb}: ${done + failures.length} of ${ids.length}`;
  }
  if (failures.length) say(`${verb}: ${done} done, ${failures.length} refused (${failures[0]})`, "error");
  else say(`${verb}: ${done} image(s) done.`);
  return done;
}

$("assign").addEventListener("click", async () => {
  const users = [...$("assignees").selectedOptions].map((o) => Number(o.value));
  const plan = new Map(roundRobin([...selected], users));
  await eachSelected("Assigned", (id) => api(routes.image(id), { method: "PATCH", body: { assignee: plan.get(id) } }));
  loadImages();
});
$("unassign").addEventListener("click", async () => {
  await eachSelected("Unassigned", (id) => api(routes.image(id), { method: "PATCH", body: { assignee: null } }));
  loadImages();
});
$("recompute").addEventListener("click", async () => {
  await eachSelected("Embedding requested", (id) => api(routes.embedding(id), { method: "POST" }));
  loadImages();
});
$("delete").addEventListener("click", async () => {
  const ok = await confirmDialog({
    title: `Delete ${selected.size} image(s)?`,
    body: "Each image is deleted with its annotations, its review history and its embedding. This cannot be undone.",
    confirm: `Delete ${selected.size} image(s)`,
  });
  if (!ok) return;
  await eachSelected("Deleted", (id) => api(routes.image(id), { method: "DELETE" }));
  selected.clear();
  loadImages();
});
$("export-selection").addEventListener("click", async () => {
  const job = await exportDialog(projectId, { imageIds: [...selected] });
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
