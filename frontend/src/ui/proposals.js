// Everything mode: the server's automatic mask generator runs as a job on this image and saves
// every mask it finds as an annotation (source "auto"). Those new annotations are the proposals:
// accepting one keeps it, rejecting one deletes it (undoably), one by one or all at once.
import { api, ApiError } from "./api.js";
import { routes } from "./routes.js";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const $ = (id) => document.getElementById(id);

export class Proposals {
  // store: the AnnotationStore; reject(annotation) deletes with undo; select(id) highlights one.
  constructor({ notices, store, reject, select }) {
    this.notices = notices;
    this.store = store;
    this.rejectOne = reject;
    this.select = select;
    this.ids = [];
    this.running = false;
  }

  state(text) {
    $("everything-state").textContent = text;
  }

  async start(projectId, imageId, label) {
    if (this.running) return;
    if (!label) return this.notices.show("everything", "Pick a label first: proposals are saved with it.");
    const before = new Set(this.store.list.map((a) => a.id));
    let job;
    try {
      job = await api(routes.jobs(projectId), {
        method: "POST",
        body: { kind: "everything", params: { label: label.id, image_ids: [imageId] } },
      });
    } catch (err) {
      const why = err instanceof ApiError && err.status === 403 ? "starting it needs the manager role" : err.message;
      return this.notices.show("everything", `Everything mode did not start: ${why}`);
    }
    this.running = true;
    this.state("queued…");
    try {
      while (job.status === "pending" || job.status === "running") {
        await sleep(1500);
        job = await api(routes.job(job.id));
        this.state(job.status === "pending" ? "queued…" : "finding masks…");
      }
    } finally {
      this.running = false;
    }
    if (job.status !== "done") {
      this.state("");
      return this.notices.show("everything", `Everything mode failed: ${job.error || job.status}`);
    }
    await this.store.load(imageId);
    this.ids = this.store.list.filter((a) => !before.has(a.id) && a.source === "auto").map((a) => a.id);
    this.render();
    if (!this.ids.length) this.state("no proposals: the generator found no mask it was sure of");
  }

  render() {
    const ul = $("proposals");
    ul.replaceChildren();
    for (const id of this.ids) {
      const a = this.store.get(id);
      if (!a) continue;
      const li = document.createElement("li");
      li.dataset.proposal = String(id);
      li.textContent = `#${id} score ${a.score?.toFixed?.(3) ?? "?"} `;
      li.addEventListener("mouseenter", () => this.select(id));
      for (const [text, run] of [["✓", () => this.accept(id)], ["✗", () => this.reject(id)]]) {
        const b = document.createElement("button");
        b.type = "button";
        b.textContent = text;
        b.addEventListener("click", run);
        li.appendChild(b);
      }
      ul.appendChild(li);
    }
    $("proposal-actions").hidden = this.ids.length === 0;
    const n = this.ids.length;
    this.state(n ? `${n} proposal${n === 1 ? "" : "s"}` : "");
  }

  drop(id) {
    this.ids = this.ids.filter((x) => x !== id);
    this.render();
  }

  accept(id) {
    this.drop(id);
  }

  async reject(id) {
    const a = this.store.get(id);
    if (a && !(await this.rejectOne(a))) return;
    this.drop(id);
  }

  acceptAll() {
    this.ids = [];
    this.render();
  }

  async rejectAll() {
    for (const id of [...this.ids]) await this.reject(id);
  }

  forget() {
    this.ids = [];
    this.render();
  }
}
