// The import and auto-annotate dialogs. Both send the API's own fields; the server checks
// them again (services/job_params.py), and a refusal is shown in its words.
import { api } from "./api.js";
import { dialogShell, postForm, radio, scopeField, tickedStatuses } from "./job_dialogs.js";
import { el } from "./manage.js";
import { routes } from "./routes.js";

const num = (name, attrs) => el("input", { type: "number", name, style: "width:6rem", ...attrs });
const classIds = (text) =>
  text
    .split(/[\s,]+/)
    .filter(Boolean)
    .map(Number);

// A dry run's answer: what the import would create, and what it would refuse.
function planView(plan) {
  const boxes = Object.keys(plan.boxes).length > 0;
  const perLabel = Object.entries(boxes ? plan.boxes : plan.annotations);
  return el(
    "div",
    { class: "import-plan", dataset: { problems: String(plan.problems.length) } },
    el("p", { class: "plan-images" }, `Images: ${plan.images_new.length} new, ${plan.images_known} already in the project; ${plan.images_annotated} get ${boxes ? "boxes" : "annotations"}.`),
    el("p", {}, boxes ? "Boxes per label (SAM turns each into a mask, in a job):" : "Annotations per label:"),
    el("ul", { class: "per-label" }, ...perLabel.map(([name, n]) => el("li", { dataset: { label: name } }, `${name}: ${n}`))),
    plan.labels_to_create.length ? el("p", { class: "new-labels" }, `Labels to create: ${plan.labels_to_create.join(", ")}`) : null,
    plan.problems.length
      ? el("ul", { class: "problems error" }, ...plan.problems.map((p) => el("li", {}, p)))
      : el("p", { class: "ok" }, "No problems. Nothing is written until you import."),
  );
}

// Images the review rules or someone's lock hold are left as they are: say which, and why.
function skippedView(skipped) {
  if (!skipped?.length) return [];
  return [
    el("p", { class: "notice error" }, `${skipped.length} image(s) left as they are:`),
    el("ul", { class: "import-skipped" }, ...skipped.map((row) => el("li", {}, `${row.name}: ${row.reason}`))),
  ];
}

function boxOptions(labels) {
  return el(
    "div",
    { class: "boxes-opts", style: "margin-left:1.5rem" },
    el("label", { style: "display:block" }, "Label ", el("select", { name: "label" }, el("option", { value: "" }, "by class (names in classes.txt or data.yaml, else the labels in order)"), ...labels.map((l) => el("option", { value: String(l.id) }, l.name)))),
    el("label", { style: "display:block" }, "Only class ids ", el("input", { name: "classes", placeholder: "e.g. 0, 2 (empty: all)" })),
    el("label", { style: "display:block" }, "At most ", num("max_det", { min: "1", max: "10000", placeholder: "300" }), " boxes per image"),
  );
}

function boxForm(form, fmt, dryRun) {
  const body = new FormData();
  body.append("format", fmt);
  body.append("file", form.file.files[0]);
  if (dryRun) body.append("dry_run", "true");
  if (fmt !== "yolo_boxes") return body;
  if (form.label.value) body.append("label", form.label.value);
  for (const id of classIds(form.classes.value)) body.append("classes", String(id));
  if (form.max_det.value) body.append("max_det", form.max_det.value);
  return body;
}

// Import: a file, or a zip with the images beside it (uploaded through the same checks as
// the dataset page). "Check" is a dry run; "Import" writes. Resolves with {result} or {job}.
export function importDialog(projectId, labels) {
  return new Promise((resolve) => {
    const check = el("button", { type: "button", class: "dry-run" }, "Check (dry run)");
    const fields = [
      el(
        "fieldset",
        {},
        el("legend", {}, "Format"),
        radio("format", "coco", "COCO JSON (or a zip with it and the images)", true),
        radio("format", "yolo_seg", "YOLO segmentation (zip: data.yaml, labels/, images/)"),
        radio("format", "masks", "PNG masks (zip: labels.json, masks, images/)"),
        radio("format", "yolo_boxes", "YOLO boxes (zip of .txt, classes.txt, images): SAM turns each box into a mask, as a job"),
      ),
      boxOptions(labels),
      el("label", {}, "File ", el("input", { type: "file", name: "file", required: true, accept: ".json,.zip" })),
      el("p", { class: "muted" }, "Images in the zip are added (one the project already has is matched, not added twice); others are matched by file name. All or nothing."),
      check,
      el("div", { class: "import-result" }),
    ];
    const { dialog, form, submit, fail, error } = dialogShell("Import annotations", fields, "Import");
    const opts = form.querySelector(".boxes-opts");
    opts.hidden = true;
    form.addEventListener("change", () => (opts.hidden = form.format.value !== "yolo_boxes"));
    const box = form.querySelector(".import-result");
    let outcome = null;
    dialog.addEventListener("close", () => resolve(outcome));
    check.addEventListener("click", async () => {
      if (!form.reportValidity()) return;
      error.hidden = true;
      try {
        const { data } = await postForm(routes.imports(projectId), boxForm(form, form.format.value, true));
        box.replaceChildren(planView(data), ...skippedView(data.skipped));
      } catch (err) {
        fail(err);
      }
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      submit.disabled = true;
      try {
        const { status, data } = await postForm(routes.imports(projectId), boxForm(form, form.format.value, false));
        if (status === 202) {
          outcome = { job: data };
          box.replaceChildren(el("p", { class: "notice done" }, `Auto-annotation job #${data.id} started: see it in the jobs list.`));
        } else {
          outcome = { result: data };
          const created = data.labels_created?.length ? ` New labels: ${data.labels_created.join(", ")}.` : "";
          box.replaceChildren(el("p", { class: "notice done" }, `Imported ${data.annotations} annotation(s) on ${data.images} image(s); ${data.images_added} image(s) added.${created}`));
        }
        box.append(...skippedView(outcome.job?.skipped ?? outcome.result?.skipped));
        submit.hidden = true;
        check.hidden = true;
      } catch (err) {
        fail(err);
      }
    });
    dialog.showModal();
  });
}

// The detector's parameters, as Ultralytics names them; empty means the detector's default.
function detectorParams(labels) {
  const classRows = el("div", {});
  const addClass = el("button", { type: "button" }, "Map a class id to a label");
  const labelOptions = () => labels.map((l) => el("option", { value: String(l.id) }, l.name));
  addClass.addEventListener("click", () =>
    classRows.append(el("div", { class: "row class-row" }, el("label", {}, "class id ", num("class_id", { min: "0", step: "1" })), el("label", {}, "→ ", el("select", { name: "class_label" }, ...labelOptions())))),
  );
  return el(
    "div",
    { class: "detector-opts" },
    el("label", { style: "display:block" }, "Label for detections without a mapped class ", el("select", { name: "label" }, el("option", { value: "" }, "(none: unmapped classes are dropped)"), ...labelOptions())),
    el("fieldset", {}, el("legend", {}, "Classes"), classRows, addClass),
    el(
      "div",
      { class: "row" },
      el("label", {}, "conf ", num("conf", { min: "0", max: "1", step: "0.05", value: "0.25" })),
      el("label", {}, "iou ", num("iou", { min: "0", max: "1", step: "0.05", value: "0.45" })),
      el("label", {}, "imgsz ", num("imgsz", { min: "32", max: "4096", step: "32", value: "640" })),
      el("label", {}, "max_det ", num("max_det", { min: "1", max: "10000", value: "300" })),
    ),
    el("label", { style: "display:block" }, "Only class ids ", el("input", { name: "classes", placeholder: "e.g. 0, 2 (empty: all)" })),
    // The masks arrive as proposals a labeler keeps or drops; the surest may be kept at once.
    el("label", { style: "display:block" }, "Keep at once those scoring at least (empty: keep none) ", num("keep_above", { min: "0", max: "1", step: "0.05" })),
  );
}

function readDetectorParams(form, scope) {
  const params = { detector: form.detector.value };
  for (const key of ["conf", "iou", "keep_above"]) if (scope.querySelector(`[name=${key}]`).value !== "") params[key] = Number(scope.querySelector(`[name=${key}]`).value);
  for (const key of ["imgsz", "max_det"]) if (scope.querySelector(`[name=${key}]`).value !== "") params[key] = Number(scope.querySelector(`[name=${key}]`).value);
  const classes = classIds(scope.querySelector("[name=classes]").value);
  if (classes.length) params.classes = classes;
  const label = scope.querySelector("[name=label]").value;
  if (label) params.label = Number(label);
  const classLabels = {};
  for (const row of scope.querySelectorAll(".class-row")) {
    const id = row.querySelector("[name=class_id]").value;
    if (id !== "") classLabels[id] = Number(row.querySelector("[name=class_label]").value);
  }
  if (Object.keys(classLabels).length) params.class_labels = classLabels;
  return params;
}

// Auto-annotate: a detector the server registered (GET /api/detectors: names only) with its
// parameters, or boxes from a file (a YOLO boxes zip, through the import); on the selection
// or on the images in the ticked statuses. Resolves with the started Job (or null).
export async function autoAnnotateDialog(projectId, labels, _detectors, { imageIds = [] } = {}) {
  const [found, project, checkpoints] = await Promise.all([api(routes.detectors()), api(routes.project(projectId)), api(routes.checkpoints())]);
  const detectors = found.filter((d) => d.available);
  const model = project.sam_model?.checkpoint;
  const offered = checkpoints.find((c) => c.name === model);
  const modelNote = el("p", { class: "muted model-note" }, `SAM model: ${model ?? "the server's default"}${offered ? (offered.present ? " (on the server)" : " (fetched on first use)") : ""}.`);
  return new Promise((resolve) => {
    const FILE = "__file__";
    const source = el("select", { name: "detector" }, ...detectors.map((d) => el("option", { value: d.name }, `${d.name} (${d.note})`)), el("option", { value: FILE }, "Boxes from a file (YOLO .txt zip)"));
    const fileOpts = el("div", { class: "file-opts" }, el("label", { style: "display:block" }, "File ", el("input", { type: "file", name: "file", accept: ".zip" })), boxOptions(labels));
    const detOpts = detectorParams(labels);
    const fields = [
      modelNote,
      el("label", { style: "display:block" }, "Boxes from ", source),
      detOpts,
      fileOpts,
      scopeField(imageIds),
    ];
    const { dialog, form, submit, fail } = dialogShell("Auto-annotate", fields, "Start");
    const sync = () => {
      detOpts.hidden = source.value === FILE;
      fileOpts.hidden = source.value !== FILE;
    };
    source.addEventListener("change", sync);
    sync();
    let job = null;
    dialog.addEventListener("close", () => resolve(job));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      submit.disabled = true;
      try {
        if (source.value === FILE) {
          if (!form.file.files.length) throw new Error("Choose the zip of boxes.");
          const body = new FormData();
          body.append("format", "yolo_boxes");
          body.append("file", form.file.files[0]);
          const label = fileOpts.querySelector("[name=label]").value;
          if (label) body.append("label", label);
          for (const id of classIds(fileOpts.querySelector("[name=classes]").value)) body.append("classes", String(id));
          const maxDet = fileOpts.querySelector("[name=max_det]").value;
          if (maxDet) body.append("max_det", maxDet);
          job = (await postForm(routes.imports(projectId), body)).data;
        } else {
          const params = readDetectorParams(form, detOpts);
          const status = tickedStatuses(form);
          if (status.length) params.status = status;
          if (imageIds.length) params.image_ids = imageIds;
          job = await api(routes.jobs(projectId), { method: "POST", body: { kind: "auto_annotate", params } });
        }
        dialog.close();
      } catch (err) {
        fail(err);
      }
    });
    dialog.showModal();
  });
}
