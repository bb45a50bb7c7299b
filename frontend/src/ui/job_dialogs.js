// The dialogs that start work: export here, import and auto-annotate in work_dialogs.js. Each sends exactly what the API
// takes today and shows its answer; options the API does not have are not offered.
import { api, ApiError, csrfToken } from "./api.js";
import { el, errorText } from "./manage.js";
import { routes } from "./routes.js";
import { STATUS_TEXT } from "./workflow.js";

export function dialogShell(title, fields, submitText) {
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

export const radio = (name, value, text, checked = false) =>
  el("label", { style: "display:block" }, el("input", { type: "radio", name, value, checked }), ` ${text}`);

// A checkbox per image status, named `status`; tickedStatuses reads them back.
export const statusBoxes = () => Object.entries(STATUS_TEXT).map(([v, t]) => el("label", {}, el("input", { type: "checkbox", name: "status", value: v }), ` ${t} `));
export const tickedStatuses = (form) => [...form.querySelectorAll("input[name=status]:checked")].map((c) => c.value);

// Which images a job works on: the selection when the page has one, else the ticked statuses
// (none: all), and with `ids` an input for image ids that wins over them.
export function scopeField(imageIds, { ids = false } = {}) {
  if (imageIds.length) return el("p", {}, `On the ${imageIds.length} selected image(s).`);
  return el(
    "fieldset",
    { class: "which-images" },
    el("legend", {}, "Images in these statuses (none ticked: all)"),
    ...statusBoxes(),
    ids ? el("label", { style: "display:block" }, "or only the images ", el("input", { name: "image_ids", placeholder: "ids, e.g. 12, 15", style: "width:12rem" })) : null,
  );
}

// Export: format and its option, the statuses to include, and the selection when there is one.
// Resolves with the started Job (or null when closed).
export function exportDialog(projectId, { imageIds = [] } = {}) {
  return new Promise((resolve) => {
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
      el("fieldset", {}, el("legend", {}, "Images in these statuses (none ticked: all)"), ...statusBoxes()),
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
      const status = tickedStatuses(form);
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
export async function postForm(url, body) {
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
