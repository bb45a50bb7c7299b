// "Find by text" on the Jobs page: phrases over the ticked statuses (or the selection), as
// proposals or as annotations above a score. The body is built by textJobParams (ui/find.js);
// the server checks it again (services/text_prompts.py) and a refusal is shown in its words.
import { api } from "./api.js";
import { statusText, textJobParams } from "./find.js";
import { dialogShell, radio, scopeField, tickedStatuses } from "./job_dialogs.js";
import { el } from "./manage.js";
import { routes } from "./routes.js";

// Resolves with the started Job (or null when closed).
export async function textJobDialog(projectId, labels, { imageIds = [] } = {}) {
  // What the workers last reported: a manager sees before starting when none can run it
  // (the job would wait, then fail with the same reason).
  let status = null;
  let statusLine;
  try {
    status = await api(routes.textStatus());
    statusLine = statusText(status);
  } catch (err) {
    statusLine = `text prompt status unknown: ${err.message}`;
  }
  // Both engines are offered even before any worker reported; what is known about each is said.
  const engineNote = (name) => {
    const e = status?.engines?.[name];
    if (!e) return name;
    return `${name} (${e.model}${e.available ? "" : `: unavailable, ${e.reason}`})`;
  };
  return new Promise((resolve) => {
    const engine = el(
      "select",
      { name: "engine" },
      el("option", { value: "" }, "the workers' default"),
      el("option", { value: "sam3" }, `${engineNote("sam3")}: SAM 3 segments the phrases`),
      el("option", { value: "detector" }, `${engineNote("detector")}: a detector's boxes, the project's SAM makes the masks`),
    );
    const annotationOpts = el(
      "div",
      { class: "annotation-opts", style: "margin-left:1.5rem", hidden: true },
      el("label", { style: "display:block" }, "Score at least ", el("input", { type: "number", name: "min_score", min: "0", max: "1", step: "0.05", placeholder: "0.5", style: "width:6rem" })),
      el(
        "label",
        { style: "display:block" },
        "Label for phrases no label is named like ",
        el("select", { name: "label" }, el("option", { value: "" }, "(none)"), ...labels.map((l) => el("option", { value: String(l.id) }, l.name))),
      ),
    );
    const fields = [
      el("p", { class: status?.available ? "muted text-status" : "notice error text-status" }, statusLine),
      el("label", { style: "display:block" }, "Phrases ", el("input", { name: "phrases", required: true, placeholder: "e.g. boat, red buoy", style: "width:20rem" })),
      el("label", { style: "display:block" }, "Engine ", engine),
      el(
        "label",
        { style: "display:block" },
        "Report instances scoring at least ",
        el("input", { type: "number", name: "score_threshold", min: "0", max: "1", step: "0.05", placeholder: "0.3 / 0.25", title: "default: 0.3 for SAM 3, 0.25 for a detector", style: "width:6rem" }),
      ),
      el(
        "label",
        { style: "display:block" },
        "SAM 3 mask probability cut ",
        el("input", { type: "number", name: "mask_threshold", min: "0", max: "1", step: "0.05", placeholder: "0.5", style: "width:6rem" }),
      ),
      scopeField(imageIds),
      el(
        "fieldset",
        {},
        el("legend", {}, "Results"),
        radio("mode", "proposals", "as proposals, kept or dropped by a labeler", true),
        radio("mode", "annotations", "as annotations, for instances above a score"),
        annotationOpts,
      ),
    ];
    const { dialog, form, submit, fail } = dialogShell("Find by text", fields, "Start");
    form.addEventListener("change", () => (annotationOpts.hidden = form.mode.value !== "annotations"));
    let job = null;
    dialog.addEventListener("close", () => resolve(job));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      submit.disabled = true;
      const built = textJobParams({
        text: form.phrases.value,
        engine: engine.value,
        statuses: tickedStatuses(form),
        imageIds,
        mode: form.mode.value,
        minScore: form.min_score.value,
        label: form.label.value,
        scoreThreshold: form.score_threshold.value,
        maskThreshold: form.mask_threshold.value,
      });
      try {
        if (built.error) throw new Error(built.error);
        job = await api(routes.textJobs(projectId), { method: "POST", body: built.params });
        dialog.close();
      } catch (err) {
        fail(err);
      }
    });
    dialog.showModal();
  });
}
