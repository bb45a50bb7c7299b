// Everything mode: the server's automatic mask generator runs as a job for this image; its masks
// come back as proposals the user accepts or rejects one by one, or all at once.
import { api, ApiError } from "./api.js";
import { routes } from "./routes.js";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const $ = (id) => document.getElementById(id);

// The job result as a list of {polygons?, rle?, score}: the generator's JSON, whichever key holds it.
function proposalsOf(data) {
  const list = Array.isArray(data) ? data : data?.proposals ?? data?.annotations ?? data?.masks ?? [];
  return list.map((m) => ({
    polygons: m.polygons ?? null,
    rle: m.rle ?? m.segmentation ?? null,
    score: m.score ?? m.predicted_iou ?? null,
    area: m.area ?? null,
  }));
}

export class Proposals {
  constructor({ notices, onAccept, currentLabel }) {
    this.notices = notices;
    this.currentLabel = currentLabel; // () -> the label proposals are saved with
    this.onAccept = onAccept; // (fields) -> Promise<annotation | null>
    this.items = [];
  }

  state(text) {
    $("everything-state").textContent = text;
  }

  async start(projectId, imageId) {
    let job;
    try {
      job = await api(routes.jobs(projectId), { method: "POST", body: { kind: "everything", params: { image: imageId } } });
    } catch (err) {
      const why = err instanceof ApiError && err.status === 400 ? "this server cannot run everything mode yet" : err.message;
      this.notices.show("everything", `Everything mode did not start: ${why}`);
      return;
    }
    this.state("running…");
    while (job.status === "pending" || job.status === "running") {
      await sleep(1500);
      job = await api(routes.job(job.id));
      this.state(job.total ? `running ${job.done}/${job.total}` : "running…");
    }
    if (job.status !== "done") {
      this.state("");
      this.notices.show("everything", `Everything mode failed: ${job.error || job.status}`);
      return;
    }
    const res = await fetch(job.result_url ?? routes.jobResult(job.id), { credentials: "same-origin" });
    this.items = proposalsOf(await res.json());
    this.state(`${this.items.length} proposals`);
    this.render();
  }

  render() {
    const ul = $("proposals");
    ul.replaceChildren();
    this.items.forEach((p, i) => {
      const li = document.createElement("li");
      li.dataset.proposal = String(i);
      li.textContent = `#${i + 1} score ${p.score?.toFixed?.(3) ?? "?"} `;
      for (const [label, run] of [["✓", () => this.accept(i)], ["✗", () => this.reject(i)]]) {
        const b = document.createElement("button");
        b.type = "button";
        b.textContent = label;
        b.addEventListener("click", run);
        li.appendChild(b);
      }
      ul.appendChild(li);
    });
    $("proposal-actions").hidden = this.items.length === 0;
  }

  fields(p, label) {
    const geometry = p.polygons ? { polygons: p.polygons } : { rle: p.rle };
    return { label: label.id, ...geometry, source: "auto", score: p.score };
  }

  async accept(i, label = this.currentLabel()) {
    const p = this.items[i];
    if (!p || !label) return;
    const saved = await this.onAccept(this.fields(p, label));
    if (saved) this.reject(i);
  }

  reject(i) {
    this.items.splice(i, 1);
    this.render();
  }

  async acceptAll(label = this.currentLabel()) {
    while (this.items.length) {
      const before = this.items.length;
      await this.accept(0, label);
      if (this.items.length === before) break; // a save failed: stop, keep the rest
    }
  }

  rejectAll() {
    this.items = [];
    this.render();
  }
}
