// The Jobs page's forms -> the jobs route's params, with no DOM, so node tests read them
// (frontend/tests/ui). The server checks every value again (services/job_params.py) and its
// refusal is shown in its words; what is checked here only answers a typo before a request.

// Which images: a selection wins over the ticked statuses; neither means all of them.
export function scopeParams(params, { imageIds = [], statuses = [] }) {
  if (imageIds.length) params.image_ids = imageIds;
  else if (statuses.length) params.status = statuses;
  return params;
}

// "12, 15 18" -> {ids: [12, 15, 18]}; or {error} in words.
export function parseImageIds(text) {
  const parts = String(text ?? "")
    .split(/[\s,]+/)
    .filter(Boolean);
  const bad = parts.find((p) => !/^[1-9]\d{0,17}$/.test(p));
  if (bad !== undefined) return { error: `"${bad.slice(0, 20)}" is not an image id` };
  return { ids: [...new Set(parts.map(Number))] };
}

// Everything mode's form -> {params} (or {error}). `everything` is what GET projects/{id}/
// says: the defaults a job runs with and the bounds for the caller's role. A value left
// empty or at its default is left out, so the job's params say what was chosen.
export function everythingJobParams({ values = {}, everything, imageIds = [], idsText = "", statuses = [], label = "", keepAbove = "" }) {
  const params = {};
  for (const [key, bound] of Object.entries(everything.bounds)) {
    const raw = String(values[key] ?? "").trim();
    if (raw === "") continue;
    const value = Number(raw);
    const what = bound.integer ? "an integer" : "a number";
    if (!Number.isFinite(value) || (bound.integer && !Number.isInteger(value)) || value < bound.min || value > bound.max) {
      return { error: `${key} must be ${what} from ${bound.min} to ${bound.max}, got ${raw.slice(0, 20)}` };
    }
    if (value !== everything.defaults[key]) params[key] = value;
  }
  if (label) params.label = Number(label);
  if (String(keepAbove).trim() !== "") {
    const keep = Number(keepAbove);
    if (!(keep >= 0 && keep <= 1)) return { error: "keep_above is a score from 0 to 1" };
    params.keep_above = keep;
  }
  const typed = parseImageIds(idsText);
  if (typed.error) return typed;
  return { params: scopeParams(params, { imageIds: imageIds.length ? imageIds : typed.ids, statuses }) };
}
