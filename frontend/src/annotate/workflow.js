// The image's review status in the bar and the Review panel. The buttons follow the server's
// state machine (annotator/services/review.py): GET review names the steps this user may take
// now (submit, accept, reject, reopen), so a button is shown only when its step would pass.
// A reviewer pins issues to a point (I, then a click on the image); the annotator resolves them.
// The requests are in ui/workflow.js.
import { CAN_ANNOTATE, pinIssue, resolveIssue, reviewRecord, STATUS_TEXT, takeStep } from "../ui/workflow.js";
import { $ } from "./dom.js";

export function createWorkflow({ state, notices, view, stage }) {
  let record = { steps: [], events: [], issues: [] };
  let pinning = false;
  let afterStep = () => {};

  function showStatus() {
    const el = $("image-status");
    el.dataset.status = state.image.status;
    el.textContent = STATUS_TEXT[state.image.status] ?? state.image.status;
    const steps = new Set(record.steps);
    document.querySelector("[data-action=submit]").hidden = !steps.has("submit");
    document.querySelector("[data-action=reopen]").hidden = !steps.has("reopen");
    $("review-box").hidden = !(steps.has("accept") || steps.has("reject"));
    const decision = [...record.events].reverse().find((e) => e.action === "accept" || e.action === "reject");
    $("review-note").textContent = decision?.comment
      ? `${decision.action === "reject" ? "Rejected" : "Accepted"} by ${decision.user_name ?? "a reviewer"}: ${decision.comment}`
      : "";
    showIssues();
  }

  function showIssues() {
    const list = $("issue-list");
    list.replaceChildren();
    const canResolve = CAN_ANNOTATE.has(state.role) && !["submitted", "accepted"].includes(state.image.status);
    for (const issue of record.issues) {
      const li = document.createElement("li");
      li.dataset.issueId = issue.id;
      li.dataset.resolved = String(Boolean(issue.resolved_at));
      const where = issue.x !== null ? ` (at ${Math.round(issue.x)}, ${Math.round(issue.y)})` : "";
      li.textContent = `${issue.text}${where} — ${issue.created_by_name ?? "reviewer"}`;
      if (issue.resolved_at) {
        li.append(` · resolved by ${issue.resolved_by_name}`);
      } else if (canResolve) {
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = "Resolve";
        button.addEventListener("click", () => resolve(issue.id));
        li.append(" ", button);
      }
      list.appendChild(li);
    }
  }

  // The record of the open image; a failure leaves the buttons hidden and says why.
  async function refresh() {
    try {
      record = await reviewRecord(state.imageId);
    } catch (err) {
      record = { steps: [], events: [], issues: [] };
      notices.show("workflow", `The review record could not be loaded: ${err.message}`);
    }
    showStatus();
  }

  const SAID = { submit: "Submitted for review.", accept: "Image accepted.", reject: "Image rejected.", reopen: "Image reopened." };

  async function step(name) {
    const comment = $("review-comment").value.trim();
    try {
      state.image = { ...state.image, ...(await takeStep(state.imageId, name, comment)) };
      $("review-comment").value = "";
      notices.show("workflow", SAID[name], { level: "info" });
    } catch (err) {
      notices.show("workflow", `Not done: ${err.message}`);
    }
    // The step may hand the lock over (submit) or give editing back (reopen): open again.
    await afterStep(name);
  }

  function armPin() {
    if (!record.steps.includes("accept") && !record.steps.includes("reject")) {
      return notices.show("issue", "Issues are pinned by a reviewer while the image is submitted.", { level: "info" });
    }
    if (!$("issue-text").value.trim()) return notices.show("issue", "Write the issue first, then press I and click the point.", { level: "info" });
    pinning = true;
    notices.show("issue", "Click the point the issue is about.", { level: "info" });
  }

  // Before the tools see it: while pinning, a click on the image pins the issue and nothing else.
  stage.addEventListener("mousedown", async (e) => {
    if (!pinning || e.button !== 0) return;
    e.stopImmediatePropagation();
    e.preventDefault();
    pinning = false;
    const rect = stage.getBoundingClientRect();
    const [x, y] = view.toImage(e.clientX - rect.left, e.clientY - rect.top);
    try {
      await pinIssue(state.imageId, { x, y, text: $("issue-text").value.trim() });
      $("issue-text").value = "";
      notices.show("issue", "Issue pinned.", { level: "info" });
    } catch (err) {
      notices.show("issue", `Issue not pinned: ${err.message}`);
    }
    await refresh();
  }, { capture: true });

  async function resolve(id) {
    try {
      await resolveIssue(id);
      notices.show("issue", "Issue resolved.", { level: "info" });
    } catch (err) {
      notices.show("issue", `Not resolved: ${err.message}`);
    }
    await refresh();
  }

  return {
    showStatus,
    refresh,
    onStep: (fn) => (afterStep = fn),
    issues: () => record.issues,
    actions: {
      submit: () => step("submit"),
      reopen: () => step("reopen"),
      "review-accept": () => step("accept"),
      "review-reject": () => step("reject"),
      pinIssue: () => armPin(),
    },
  };
}
