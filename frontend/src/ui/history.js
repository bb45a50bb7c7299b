// Annotation history: the requests (annotator/api/views/history.py) and the one line each version
// shows. Deleted annotations keep their history, so the list is the image's, filtered by id.
import { api, listAll } from "./api.js";
import { routes } from "./routes.js";

export function versions(imageId, annotationId) {
  return listAll(routes.history(imageId, { annotation: annotationId }));
}

// `version`: the annotation's version the page holds (undefined for a deleted one). The server
// answers the annotation as the revert left it; a stale version is a 409 like a PATCH's.
export function revertTo(imageId, { annotation, to, version }) {
  return api(routes.historyRevert(imageId), { method: "POST", body: { annotation, to, version } });
}

const ACTION_TEXT = { create: "created", update: "edited", delete: "deleted", revert: "reverted" };

// "v3 edited by ana, 14:02:11: label, polygons" (the geometry's derived fields folded into one).
export function describe(v, { withId = false } = {}) {
  const when = new Date(v.created_at).toLocaleTimeString();
  let what = ACTION_TEXT[v.action] ?? v.action;
  if (v.action === "revert" && v.reverted_to) what += ` to v${v.reverted_to}`;
  const changed = v.changed.filter((f) => !["rle", "bbox", "area"].includes(f));
  const fields = v.action === "create" || v.action === "delete" || !changed.length ? "" : `: ${changed.join(", ")}`;
  return `${withId ? `#${v.annotation_id} ` : ""}v${v.version} ${what} by ${v.user_name ?? "someone"}, ${when}${fields}`;
}
