// Working together: the image's status and the review steps (submit, accept, reject with a
// comment, reopen), pinned issues, and "next image for me" from the assignment queue.
import { api } from "./api.js";
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

// A step of the review workflow (annotator/services/review.py): the server says which the
// caller may take now (GET review -> steps), and refuses the others with a message.
const STEP_STATUS = { start: "in_progress", submit: "submitted", reopen: "in_progress" };

export function takeStep(imageId, step, comment = "") {
  if (step === "accept" || step === "reject") {
    return api(routes.review(imageId), { method: "POST", body: { decision: step, comment } });
  }
  return api(routes.image(imageId), { method: "PATCH", body: { status: STEP_STATUS[step], comment } });
}

// Every step taken (who, when, comment), the issues pinned, and the steps open to the caller.
export function reviewRecord(imageId) {
  return api(routes.review(imageId));
}

export function pinIssue(imageId, { x, y, text }) {
  return api(routes.issues(imageId), { method: "POST", body: { x, y, text } });
}

export function resolveIssue(issueId) {
  return api(routes.resolveIssue(issueId), { method: "POST" });
}

// The next image assigned to the caller (or unassigned) that needs work, or null.
export async function nextImageFor(projectId, after) {
  const res = await api(routes.next(projectId, after));
  return res?.id ? res : null;
}
