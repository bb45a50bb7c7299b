// "Everything mode" on the Jobs page: SAM's automatic mask generator over the ticked statuses
// (or given image ids), its masks as proposals a labeler keeps or drops. The parameters come
// prefilled with the defaults the server reports (GET projects/{id}/ `everything`) and bounded
// by its limits for the caller's role; the body is built by everythingJobParams (ui/job_params.js)
// and a refusal of the server (a bound, the prompt budget, a non-manager) is shown in its words.
import { api } from "./api.js";
import { dialogShell, scopeField, tickedStatuses } from "./job_dialogs.js";
import { everythingJobParams } from "./job_params.js";
import { el } from "./manage.js";
import { routes } from "./routes.js";

// Meta's names for SamAutomaticMaskGenerator's options (what CVAT and Ultralytics show too),
// each with what it does in words.
const HINTS = {
  points_per_side: "a grid of n × n point prompts on each image",
  points_per_batch: "prompts decoded at once (memory, not results)",
  pred_iou_thresh: "keep masks whose predicted IoU is at least this",
  stability_score_thresh: "keep masks that hold their shape when the threshold moves",
  box_nms_thresh: "overlap above which the lower-scoring of two masks is dropped",
  min_mask_region_area: "small islands and holes under this many pixels are removed",
  crop_n_layers: "also run on 4, 16, 64 crops per layer (5, 21, 85 × the prompts)",
};

function paramInput(key, bound, value) {
  const step = bound.integer ? "1" : "0.01";
  const input = el("input", { type: "number", name: key, min: String(bound.min), max: String(bound.max), step, value: value === undefined ? "" : String(value), placeholder: "the model's default", style: "width:7rem" });
  return el("label", { style: "display:block", title: `${bound.min} to ${bound.max}` }, el("code", {}, key), " ", input, el("span", { class: "muted" }, ` ${HINTS[key] ?? ""}`));
}

// Resolves with the started Job (or null when closed).
export async function everythingDialog(projectId, labels, { imageIds = [] } = {}) {
  const { everything } = await api(routes.project(projectId));
  return new Promise((resolve) => {
    const fields = [
      scopeField(imageIds, { ids: true }),
      el(
        "label",
        { style: "display:block" },
        "Suggested label ",
        el("select", { name: "label" }, el("option", { value: "" }, "(none: the labeler picks one when keeping)"), ...labels.map((l) => el("option", { value: String(l.id) }, l.name))),
      ),
      el(
        "fieldset",
        { class: "generator" },
        el("legend", {}, "The generator's parameters"),
        ...Object.entries(everything.bounds).map(([key, bound]) => paramInput(key, bound, everything.defaults[key])),
        el("p", { class: "muted" }, `At most ${everything.max_prompts.toLocaleString()} prompts an image: points_per_side² × the crops.`),
      ),
      el("label", { style: "display:block" }, "Keep at once those scoring at least (empty: keep none) ", el("input", { type: "number", name: "keep_above", min: "0", max: "1", step: "0.05", style: "width:6rem" })),
    ];
    const { dialog, form, submit, fail } = dialogShell("Everything mode", fields, "Start");
    let job = null;
    dialog.addEventListener("close", () => resolve(job));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      submit.disabled = true;
      const values = Object.fromEntries(Object.keys(everything.bounds).map((key) => [key, form.elements[key].value]));
      const built = everythingJobParams({
        values,
        everything,
        imageIds,
        idsText: form.elements.image_ids?.value ?? "",
        statuses: tickedStatuses(form),
        label: form.elements.label.value,
        keepAbove: form.elements.keep_above.value,
      });
      try {
        if (built.error) throw new Error(built.error);
        job = await api(routes.jobs(projectId), { method: "POST", body: { kind: "everything", params: built.params } });
        dialog.close();
      } catch (err) {
        fail(err);
      }
    });
    dialog.showModal();
  });
}
