// How a job reads to a person: its kind and parameters in words, and its progress.
const KIND_TEXT = { export: "Export", auto_annotate: "Auto-annotation", everything: "Everything mode", text: "Text prompts" };
const FORMAT_TEXT = { coco: "COCO", yolo_seg: "YOLO-seg", masks: "PNG masks" };

export function jobTitle(job) {
  const p = job.params ?? {};
  let text = KIND_TEXT[job.kind] ?? job.kind;
  if (job.kind === "export") {
    text += ` · ${FORMAT_TEXT[p.format] ?? p.format ?? "COCO"}`;
    if (p.format === "coco" && p.rle) text += " (RLE)";
    if (p.format === "masks" && p.mask_mode) text += ` (${p.mask_mode})`;
    if (p.include_images) text += " + images";
  }
  if (job.kind === "auto_annotate" && p.detector) text += ` · ${p.detector}`;
  if (job.kind === "text" && p.phrases?.length) text += ` · ${p.phrases.join(", ")} (${p.engine ?? "?"})`;
  if (p.status?.length) text += ` · ${p.status.join(", ")}`;
  if (p.image_ids?.length) text += ` · ${p.image_ids.length} image(s)`;
  return text;
}

export function progressText(job) {
  if (job.status === "pending") return "waiting for a worker";
  if (!job.total) return { done: "done", cancelled: "not started", failed: "not started" }[job.status] ?? "starting";
  return `${job.done.toLocaleString("en-US")} of ${job.total.toLocaleString("en-US")}${proposalsText(job)}`;
}

// Jobs that write proposals say what came of them: labelers keep or drop the pending ones on
// each image's page.
function proposalsText(job) {
  const p = job.proposals;
  if (!p) return "";
  let text = ` · ${p.pending} proposal(s) pending, ${p.kept} kept`;
  if (p.refused) text += ` (${p.refused} not kept: image locked or under review)`;
  return text;
}

export const isActive = (job) => job.status === "pending" || job.status === "running";
