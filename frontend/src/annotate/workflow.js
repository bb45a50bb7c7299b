// The image's review status in the bar and the Review panel: submit for review, and a reviewer's
// accept or reject with a comment (the requests are in ui/workflow.js).
import { CAN_REVIEW, reviewImage, STATUS_TEXT, submitImage } from "../ui/workflow.js";
import { $ } from "./dom.js";

export function createWorkflow({ state, notices }) {
  function showStatus() {
    const el = $("image-status");
    el.dataset.status = state.image.status;
    el.textContent = STATUS_TEXT[state.image.status] ?? state.image.status;
    const reviewer = CAN_REVIEW.has(state.role);
    $("review-box").hidden = !(reviewer && state.image.status === "submitted");
    document.querySelector("[data-action=submit]").disabled = state.readOnly || !["new", "in_progress", "rejected"].includes(state.image.status);
    $("review-note").textContent = state.image.review_comment ? `Reviewer: ${state.image.review_comment}` : "";
  }

  async function submit() {
    try {
      state.image = { ...state.image, ...(await submitImage(state.imageId)) };
      showStatus();
      notices.show("workflow", "Submitted for review.", { level: "info" });
    } catch (err) {
      notices.show("workflow", `Not submitted: ${err.message}`);
    }
  }

  async function review(decision) {
    const comment = $("review-comment").value.trim();
    try {
      state.image = { ...state.image, ...(await reviewImage(state.imageId, decision, comment)) };
      $("review-comment").value = "";
      showStatus();
      const said = decision === "accept" ? "Image accepted." : "Image rejected.";
      const note = state.image.commentDropped ? " This server does not store review comments yet; tell the annotator directly." : "";
      notices.show("workflow", said + note, { level: "info" });
    } catch (err) {
      notices.show("workflow", `Review not saved: ${err.message}`);
    }
  }

  return {
    showStatus,
    actions: { submit: () => submit(), "review-accept": () => review("accept"), "review-reject": () => review("reject") },
  };
}
