// The Find box: the phrases a labeler types ("cup, red mug") become a text job on the open image
// (POST projects/{id}/text-jobs/), polled to its end. The worker stores what it finds as
// proposals; the proposals panel lists them when told so by the "proposals:changed" event, and
// the box says how many were found for each phrase.
import { api } from "../ui/api.js";
import { foundText, parsePhrases, statusText } from "../ui/find.js";
import { routes } from "../ui/routes.js";
import { $ } from "./dom.js";

const POLL_MS = 1000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const quoted = (phrases) => phrases.map((p) => `'${p}'`).join(", ");

export function createFind({ state, notices }) {
  const input = $("find-text");
  const button = $("find-run");
  const out = $("find-state");
  let running = false;

  function say(text, level = "") {
    out.textContent = text;
    out.dataset.level = level;
  }

  async function loadStatus() {
    try {
      $("find-engine").textContent = statusText(await api(routes.textStatus()));
    } catch (err) {
      $("find-engine").textContent = `text prompt status unknown: ${err.message}`;
    }
  }

  async function run() {
    if (running) return;
    const parsed = parsePhrases(input.value);
    if (parsed.error) return say(parsed.error, "error");
    const imageId = state.imageId;
    running = true;
    button.disabled = true;
    say("starting…");
    try {
      let job = await api(routes.textJobs(state.projectId), {
        method: "POST",
        body: { phrases: parsed.phrases, image_ids: [imageId] },
      });
      while (job.status === "pending" || job.status === "running") {
        if (state.imageId === imageId) {
          say(job.status === "pending" ? "waiting for a worker…" : `finding ${quoted(parsed.phrases)}…`);
        }
        await sleep(POLL_MS);
        job = await api(routes.job(job.id));
      }
      if (job.status !== "done") {
        say(`failed: ${job.error || job.status}`, "error");
        notices.show("find", `Find failed: ${job.error || job.status}`);
        return;
      }
      notices.clear("find");
      if (state.imageId === imageId) say(foundText(job.summary), "done");
      // The panel reloads the image's proposals; detail says which image and job they are from.
      window.dispatchEvent(new CustomEvent("proposals:changed", { detail: { imageId, jobId: job.id, source: "text" } }));
    } catch (err) {
      say(`did not start: ${err.message}`, "error");
    } finally {
      running = false;
      button.disabled = false;
    }
  }

  $("find-form").addEventListener("submit", (e) => {
    e.preventDefault();
    run();
  });

  return {
    actions: {
      // "/" puts the cursor in the box; Enter there runs it, Esc leaves it.
      find: () => {
        input.focus();
        input.select();
      },
    },
    // Another image: the last count was about the previous one.
    reset: () => {
      if (!running) say("");
    },
    loadStatus,
  };
}
