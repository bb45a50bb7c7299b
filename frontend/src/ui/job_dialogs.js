// The dialogs that start work: export, import and auto-annotate. Each sends exactly what the API
// takes today and shows its answer; options the API does not have are not offered.
import { api, ApiError, csrfToken } from "./api.js";
import { el, errorText } from "./manage.js";
import { routes } from "./routes.js";
import { STATUS_TEXT } from "./workflow.js";

function dialogShell(title, fields, submitText) {
  const error = el("p", { class: "notice error", hidden: true, role: "alert" });
  const submit = el("button", { type: "submit" }, submitText);
  const cancel = el("button", { type: "button" }, "Close");
  const form = el("form", { method: "dialog" }, el("h2", {}, title), ...fields, error, el("div", { class: "row" }, submit, cancel));
  const dialog = el("dialog", {}, form);
  cancel.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  const fail = (err) => {
    error.textContent = errorText(err);
    error.hidden = false;
    submit.disabled = false;
  };
  return { dialog, form, submit, error, fail };
}

const radio = (name, value, text, checked = false) =>
  el("label", { style: "display:block" }, el("input", { type: "radio", name, value, checked }), ` ${text}`);

// Export: format and its option, the statuses to include, and the selection when there is one.
// Resolves with the started Job (or null when closed).
export function exportDialog(projectId, { imageIds = [] } = {}) {
  return new Promise((resolve) => {
    const statuses = Object.entries(STATUS_TEXT).map(([v, t]) =>
      el("label", {}, el("input", { type: "checkbox", name: "status", value: v }), ` ${t} `),
    );
    const fields = [
      el(
        "fieldset",
        {},
        el("legend", {}, "Format"),
        radio("format", "coco", "COCO JSON", true),
        el("div", { class: "coco-opts", style: "margin-left:1.5rem" }, radio("segmentation", "polygons", "polygons", true), radio("segmentation", "rle", "RLE")),
        radio("format", "yolo_seg", "YOLO segmentation (Ultralytics)"),
        radio("format", "masks", "PNG masks"),
        el("div", { class: "mask-opts", style: "margin-left:1.5rem", hidden: true }, radio("mask_mode", "instance", "one mask per object", true), radio("mask_mode", "semantic", "one mask per image, label ids as values")),
      ),
      el("label", { style: "display:block" }, el("input", { type: "checkbox", name: "include_images" }), " Include the image files (a larger download)"),
      el("fieldset", {}, el("legend", {}, "Images in these statuses (none ticked: all)"), ...statuses),
      imageIds.length ? el("p", {}, `Only the ${imageIds.length} selected image(s).`) : el("p", { class: "muted" }, "All images of the project."),
    ];
    const { dialog, form, submit, fail } = dialogShell("Export annotations", fields, "Start export");
    form.addEventListener("change", () => {
      form.querySelector(".coco-opts").hidden = form.format.value !== "coco";
      form.querySelector(".mask-opts").hidden = form.format.value !== "masks";
    });
    let job = null;
    dialog.addEventListener("close", () => resolve(job));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      submit.disabled = true;
      const params = { format: form.format.value };
      if (params.format === "coco") params.rle = form.segmentation.value === "rle";
      if (params.format === "masks") params.mask_mode = form.mask_mode.value;
      if (form.include_images.checked) params.include_images = true;
      const status = [...form.querySelectorAll("input[name=status]:checked")].map((c) => c.value);
      if (status.length) params.status = status;
      if (imageIds.length) params.image_ids = imageIds;
      try {
        job = await api(routes.jobs(projectId), { method: "POST", body: { kind: "export", params } });
        dialog.close();
      } catch (err) {
        fail(err);
      }
    });
    dialog.showModal();
  });
}

// POST multipart with fetch (one file; its upload is quick next to the import itself).
async function postForm(url, body) {
  const res = await fetch(url, {
    method: "POST",
    body,
    credentials: "same-origin",
    headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
  });
  const text = await res.text();
  let data = text;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    // An HTML error page: its status says enough.
  }
  if (!res.ok) throw new ApiError(res.status, data?.detail ?? (typeof data === "object" && data ? Object.values(data).flat().join(" ") : `HTTP ${res.status}`), data);
  return { status: res.status, data };
}

// Import: a file in one of the API's formats; images must already be in the project (matched
// by file name). Resolves with {result} (counts) or {job} (yolo_boxes start auto-annotation).
export function importDialog(projectId, labels) {
  return new Promise((resolve) => {
    const labelSelect = el("select", { name: "label" }, ...labels.map((l) => el("option", { value: String(l.id) }, l.name)));
    const fields = [
      el(
        "fieldset",
        {},
        el("legend", {}, "Format"),
        radio("format", "coco", "COCO JSON (or a zip with it)", true),
        radio("format", "yolo_seg", "YOLO segmentation (zip of .txt and data.yaml)"),
        radio("format", "masks", "PNG masks (zip)"),
        radio("format", "yolo_boxes", "YOLO boxes (zip of .txt): SAM turns each box into a mask, as a job"),
        el("div", { class: "boxes-opts", style: "margin-left:1.5rem", hidden: true }, el("label", {}, "Label for every box ", labelSelect)),
      ),
      el("label", {}, "File ", el("input", { type: "file", name: "file", required: true, accept: ".json,.zip" })),
      el("p", { class: "muted" }, "Images are matched by file name and must already be uploaded. All or nothing: a file with one bad entry imports nothing."),
      el("div", { class: "import-result" }),
    ];
    const { dialog, form, submit, fail } = dialogShell("Import annotations", fields, "Import");
    form.addEventListener("change", () => (form.querySelector(".boxes-opts").hidden = form.format.value !== "yolo_boxes"));
    let outcome = null;
    dialog.addEventListener("close", () => resolve(outcome));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      submit.disabled = true;
      const body = new FormData();
      body.append("format", form.format.value);
      body.append("file", form.file.files[0]);
      if (form.format.value === "yolo_boxes" && form.label.value) body.append("label", form.label.value);
      try {
        const { status, data } = await postForm(routes.imports(projectId), body);
        const box = form.querySelector(".import-result");
        if (status === 202) {
          outcome = { job: data };
          box.replaceChildren(el("p", { class: "notice" }, `Auto-annotation job #${data.id} started: see it in the jobs list.`));
        } else {
          outcome = { result: data };
          const created = data.labels_created?.length ? ` New labels: ${data.labels_created.join(", ")}.` : "";
          box.replaceChildren(el("p", { class: "notice" }, `Imported ${data.annotations} annotation(s) on ${data.images} image(s).${created}`));
        }
        submit.hidden = true;
      } catch (err) {
        fail(err);
      }
    });
    dialog.showModal();
  });
}

// Auto-annotate with a detector the server has configured (names only; the paths are the
// administrator's): a label per class, or one label for every detection, and a confidence.
export function autoAnnotateDialog(projectId, labels, detectors, { imageIds = [] } = {}) {
  return new Promise((resolve) => {
    const labelOptions = () => labels.map((l) => el("option", { value: String(l.id) }, l.name));
    const classRows = el("div", {});
    const addClass = el("button", { type: "button" }, "Map a class id to a label");
    addClass.addEventListener("click", () =>
      classRows.append(
        el("div", { class: "row class-row" }, el("label", {}, "class id ", el("input", { type: "number", min: "0", step: "1", name: "class_id", style: "width:5rem" })), el("label", {}, "→ ", el("select", { name: "class_label" }, ...labelOptions()))),
      ),
    );
    const fields = [
      el("label", { style: "display:block" }, "Detector ", el("select", { name: "detector", required: true }, ...detectors.map((d) => el("option", { value: d }, d)))),
      el("label", { style: "display:block" }, "Label for detections without a mapped class ", el("select", { name: "label" }, el("option", { value: "" }, "(none: unmapped classes are dropped)"), ...labelOptions())),
      el("fieldset", {}, el("legend", {}, "Classes"), classRows, addClass),
      el("label", { style: "display:block" }, "Confidence threshold ", el("input", { type: "number", name: "conf", min: "0", max: "1", step: "0.05", value: "0.25" })),
      // The masks arrive as proposals a labeler keeps or drops; the surest may be kept at once.
      el("label", { style: "display:block" }, "Keep at once those scoring at least (empty: keep none) ", el("input", { type: "number", name: "keep_above", min: "0", max: "1", step: "0.05" })),
      imageIds.length ? el("p", {}, `On the ${imageIds.length} selected image(s).`) : el("p", { class: "muted" }, "On every image of the project."),
    ];
    const { dialog, form, submit, fail } = dialogShell("Auto-annotate", fields, "Start");
    let job = null;
    dialog.addEventListener("close", () => resolve(job));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      submit.disabled = true;
      const params = { detector: form.detector.value, conf: Number(form.conf.value) };
      if (form.keep_above.value !== "") params.keep_above = Number(form.keep_above.value);
      if (form.label.value) params.label = Number(form.label.value);
      const classLabels = {};
      for (const row of classRows.querySelectorAll(".class-row")) {
        const id = row.querySelector("[name=class_id]").value;
        if (id !== "") classLabels[id] = Number(row.querySelector("[name=class_label]").value);
      }
      if (Object.keys(classLabels).length) params.class_labels = classLabels;
      if (imageIds.length) params.image_ids = imageIds;
      try {
        job = await api(routes.jobs(projectId), { method: "POST", body: { kind: "auto_annotate", params } });
        dialog.close();
      } catch (err) {
        fail(err);
      }
    });
    dialog.showModal();
  });
}
