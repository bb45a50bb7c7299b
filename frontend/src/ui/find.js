// The Find box's words, with no DOM: what the user typed as phrases, and a job's outcome as a
// short line. Kept apart from annotate/find.js so node tests read them (frontend/tests/ui).
import { scopeParams } from "./job_params.js";

// The server's bounds (annotator/services/text_prompts.py): checked here too, so a typo gets an
// answer before any request; the server's 400 says the same for anything that slips by.
export const MAX_PHRASES = 16;
export const MAX_PHRASE_CHARS = 100;

// "cup, red  mug,,Cup" -> {phrases: ["cup", "red mug"]}; or {error} in words.
export function parsePhrases(text) {
  const phrases = [];
  for (const raw of String(text ?? "").split(",")) {
    const phrase = raw.split(/\s+/).filter(Boolean).join(" ");
    if (!phrase || phrases.some((p) => p.toLowerCase() === phrase.toLowerCase())) continue;
    if (phrase.length > MAX_PHRASE_CHARS) return { error: `"${phrase.slice(0, 20)}…" is longer than ${MAX_PHRASE_CHARS} characters` };
    phrases.push(phrase);
  }
  if (!phrases.length) return { error: "type what to find, e.g. cup, red mug" };
  if (phrases.length > MAX_PHRASES) return { error: `at most ${MAX_PHRASES} phrases at once (${phrases.length} given)` };
  return { phrases };
}

// {found: {cup: 3, dog: 0}} -> "3 found for 'cup', none for 'dog'".
export function foundText(summary) {
  const found = Object.entries(summary?.found ?? {});
  if (!found.length) return "nothing found";
  return found.map(([phrase, n], i) => `${n ? `${n}` : "none"}${i === 0 && n ? " found" : ""} for '${phrase}'`).join(", ");
}

// What the workers said (GET /api/text/status), as the box's hint.
export function statusText(status) {
  if (!status) return "";
  if (status.available) return `engine: ${status.engine} (${status.engines?.[status.engine]?.model ?? "?"})`;
  return `text prompts unavailable: ${status.reason}`;
}

// The Jobs page's "Find by text" form -> the text-jobs route's body (or {error} in words).
// Empty fields are left out so the server's defaults apply (engine: the one the workers
// report; min_score: its default); a selection wins over the ticked statuses.
export function textJobParams({
  text, engine = "", statuses = [], imageIds = [], mode = "proposals", minScore = "", label = "", scoreThreshold = "", maskThreshold = "",
}) {
  const parsed = parsePhrases(text);
  if (parsed.error) return parsed;
  const params = scopeParams({ phrases: parsed.phrases, mode }, { imageIds, statuses });
  if (engine) params.engine = engine;
  // Empty fields are left out: the server's defaults apply (its help text gives them).
  const fractions = [["score_threshold", scoreThreshold, "the detection threshold"], ["mask_threshold", maskThreshold, "the mask threshold"]];
  if (mode === "annotations") fractions.push(["min_score", minScore, "the score"]);
  for (const [key, value, name] of fractions) {
    if (value === "") continue;
    const number = Number(value);
    if (!(number >= 0 && number <= 1)) return { error: `${name} is a number from 0 to 1` };
    params[key] = number;
  }
  if (mode === "annotations" && label) params.label = Number(label);
  return { params };
}
