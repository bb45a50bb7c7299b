// Working together: the image's status, submit for review, a reviewer's accept or reject with a
// comment, and "next image for me" from the assignment queue.
import { api, ApiError } from "./api.js";
import { routes } from "./routes.js";

export const STATUS_TEXT = {
  new: "New",
  in_progress: "In progress",
  submitted: "Submitted for review",
  accepted: "Accepted",
  rejected: "Rejected",
};

export const CAN_REVIEW = new Set(["reviewer", "manager", "owner"]);
export const CAN_ANNOTATE = new Set(["annotator", ...CAN_REVIEW]);

export function submitImage(imageId) {
  return api(routes.image(imageId), { method: "PATCH", body: { status: "submitted" } });
}

// The review endpoint keeps the comment with the decision; a server without it still takes the
// decision as a status change, and the caller is told the comment was not stored.
export async function reviewImage(imageId, decision, comment) {
  try {
    return await api(routes.review(imageId), { method: "POST", body: { decision, comment } });
  } catch (err) {
    if (!(err instanceof ApiError) || (err.status !== 404 && err.status !== 405)) throw err;
  }
  const status = decision === "accept" ? "accepted" : "rejected";
  const image = await api(routes.image(imageId), { method: "PATCH", body: { status } });
  return { ...image, commentDropped: Boolean(comment) };
}

// The next image assigned to the caller (or unassigned) that needs work, or null.
export async function nextImageFor(projectId, after) {
  const res = await api(routes.next(projectId, after));
  return res?.id ? res : null;
}
