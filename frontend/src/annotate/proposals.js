// Proposals: masks a job offered for this image (everything mode, auto-annotation, the Find box),
// stored apart from annotations until a labeler keeps them (annotator/services/proposals.py).
// The pending ones are drawn as boxes with their scores; the one under the mouse (or picked in
// the list, or with J) is filled, and K keeps it, X drops it. Shift+K keeps every one scoring at
// least the slider's value; W then a drag keeps every one inside the box dragged. A kept one gets
// the label chosen in the panel, else its suggested label, else the current label, and shows in
// the sidebar at once. The list is reloaded when a job this page started finishes, and on a
// `proposals:changed` window event (the Find box dispatches it after its job).
import { api, ApiError, listAll } from "../ui/api.js";
import { clampToImage } from "../ui/editing.js";
import { everythingDialog } from "../ui/everything_dialog.js";
import { hexToRgba, maskToImageData } from "../ui/maskpaint.js";
import { rleToMask } from "../ui/rle.js";
import { routes } from "../ui/routes.js";
import { $ } from "./dom.js";
import { currentLabel } from "./state.js";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const inside = ([x, y, w, h], [x0, y0, x1, y1]) => x0 <= x && y0 <= y && x + w <= x1 && y + h <= y1;

export function createProposals({ state, store, drawing, notices, tools }) {
  let items = []; // the open image's pending proposals (API objects)
  let focus = null; // id of the proposal K / X act on
  let focusMask = null; // {id, canvas}: the focused one's mask, painted once
  let loading = 0; // the latest load, so a slow answer for a previous image is dropped
  let running = false; // a job this page started is in progress
  let modeBefore = null; // the tool to return to after a W box

  const setState = (text) => ($("everything-state").textContent = text);
  const minScore = () => Number($("proposal-min-score").value);
  const get = (id) => items.find((p) => p.id === id) ?? null;

  async function load(imageId = state.imageId) {
    const ticket = ++loading;
    let list;
    try {
      list = await listAll(routes.proposals(imageId));
    } catch (err) {
      return notices.show("proposals", `Could not load the proposals: ${err.message}`);
    }
    if (ticket !== loading || imageId !== state.imageId) return;
    items = list;
    if (!get(focus)) focus = null;
    render();
  }

  function forget() {
    loading++;
    items = [];
    focus = null;
    render();
  }

  // The smallest pending box holding the point: nested objects pick the inner one.
  function under([x, y]) {
    let best = null;
    for (const p of items) {
      const [bx, by, bw, bh] = p.bbox;
      if (x >= bx && y >= by && x <= bx + bw && y <= by + bh && (!best || p.area < best.area)) best = p;
    }
    return best;
  }

  function setFocus(id) {
    if (focus === id) return;
    focus = id;
    for (const li of document.querySelectorAll("#proposals li")) li.setAttribute("aria-selected", String(Number(li.dataset.proposal) === id));
    drawing.drawUi();
  }

  function labelChosen() {
    const v = $("proposal-label").value;
    return v ? Number(v) : null;
  }

  function labelFor(p) {
    return labelChosen() ?? p.label ?? currentLabel(state)?.id ?? null;
  }

  function fillLabels() {
    const select = $("proposal-label");
    if (select.options.length === state.labelOrder.length + 1) return;
    select.replaceChildren(new Option("suggested, else current", ""));
    for (const id of state.labelOrder) select.add(new Option(state.labels.get(id).name, String(id)));
  }

  function render() {
    fillLabels();
    const ul = $("proposals");
    ul.replaceChildren();
    for (const p of items) {
      const li = document.createElement("li");
      li.dataset.proposal = String(p.id);
      li.setAttribute("aria-selected", String(p.id === focus));
      const name = state.labels.get(p.label)?.name;
      li.textContent = `${p.score == null ? "—" : p.score.toFixed(2)} ${name ?? ""} `;
      li.addEventListener("mouseenter", () => setFocus(p.id));
      for (const [text, title, run] of [["✓", "keep (K)", () => keep(p.id)], ["✗", "drop (X)", () => drop(p.id)]]) {
        const b = document.createElement("button");
        b.type = "button";
        b.textContent = text;
        b.title = title;
        b.addEventListener("click", run);
        li.appendChild(b);
      }
      ul.appendChild(li);
    }
    $("proposal-actions").hidden = items.length === 0;
    syncSlider();
    if (!running) setState(items.length ? `${items.length} proposal${items.length === 1 ? "" : "s"}` : "");
    drawing.drawUi();
  }

  function syncSlider() {
    const n = items.filter((p) => p.score != null && p.score >= minScore()).length;
    $("proposal-min-score-out").textContent = `${minScore().toFixed(2)} (${n})`;
  }

  function refused(what, err) {
    notices.show("proposals", `Could not ${what}: ${err.message}`);
    // Someone else decided it, or the image changed hands: show what the server has now.
    if (err instanceof ApiError && (err.status === 409 || err.status === 404)) load();
  }

  async function keep(id) {
    const p = get(id);
    if (!p) return;
    const label = labelFor(p);
    if (label == null) return notices.show("proposals", "Choose a label first: this proposal suggests none.");
    try {
      await api(routes.proposalKeep(id), { method: "POST", body: { label } });
    } catch (err) {
      return refused("keep the proposal", err);
    }
    items = items.filter((x) => x.id !== id);
    if (focus === id) focus = null;
    render();
    await store.load(state.imageId);
  }

  async function drop(id) {
    if (!get(id)) return;
    try {
      await api(routes.proposalDrop(id), { method: "POST" });
    } catch (err) {
      return refused("drop the proposal", err);
    }
    items = items.filter((x) => x.id !== id);
    if (focus === id) focus = null;
    render();
  }

  // Keep (or drop) every pending one matching; the server decides all or none.
  async function decide(action, match, filter) {
    const chosen = items.filter(filter);
    if (!chosen.length) return notices.show("proposals", "No pending proposal matches.", { level: "info" });
    const body = { action, ...match };
    if (action === "keep") {
      const label = labelChosen() ?? (chosen.every((p) => p.label != null) ? null : currentLabel(state)?.id);
      if (label === undefined) return notices.show("proposals", "Choose a label first: some of these proposals suggest none.");
      if (label != null) body.label = label;
    }
    try {
      await api(routes.proposalsBulk(state.imageId), { method: "POST", body });
    } catch (err) {
      return refused(`${action} the proposals`, err);
    }
    await load();
    if (action === "keep") await store.load(state.imageId);
  }

  const keepAbove = () => decide("keep", { min_score: minScore() }, (p) => p.score != null && p.score >= minScore());
  const keepInside = (box) => decide("keep", { box }, (p) => inside(p.bbox, box));
  const dropAll = () => {
    const box = [0, 0, state.image.width, state.image.height];
    return decide("drop", { box }, (p) => inside(p.bbox, box));
  };

  const mayStart = () => {
    if (running) return false;
    if (!state.readOnly) return true;
    notices.show("everything", "Everything mode runs on the image you hold: open it for editing first.");
    return false;
  };

  async function start() {
    if (!mayStart()) return;
    let job;
    try {
      job = await api(routes.jobs(state.projectId), {
        method: "POST",
        body: { kind: "everything", params: { image_ids: [state.imageId] } },
      });
    } catch (err) {
      return notices.show("everything", `Everything mode did not start: ${err.message}`);
    }
    await follow(job);
  }

  // The Jobs page's dialog on this one image: the parameters within the caller's bounds.
  async function startWithOptions() {
    if (!mayStart()) return;
    const labels = state.labelOrder.map((id) => state.labels.get(id)).filter((l) => l.kind !== "tag");
    const job = await everythingDialog(state.projectId, labels, { imageIds: [state.imageId] });
    if (job) await follow(job);
  }

  async function follow(job) {
    const imageId = state.imageId;
    running = true;
    setState("queued…");
    try {
      while (job.status === "pending" || job.status === "running") {
        await sleep(1000);
        job = await api(routes.job(job.id));
        setState(job.status === "pending" ? "queued…" : "finding masks…");
      }
    } catch (err) {
      job = { status: "unknown", error: err.message };
    } finally {
      running = false;
    }
    if (job.status !== "done") {
      setState("");
      return notices.show("everything", `Everything mode failed: ${job.error || job.status}`);
    }
    if (imageId !== state.imageId) return;
    await load();
    if (!items.length) setState("no proposals: the generator found no mask it was sure of");
  }

  function focusedCanvas(p) {
    if (focusMask?.id !== p.id) {
      const [h, w] = p.rle.size;
      const canvas = new OffscreenCanvas(w, h);
      const colour = state.labels.get(labelFor(p))?.color ?? "#f59e0b";
      canvas.getContext("2d").putImageData(maskToImageData(rleToMask(p.rle), w, h, hexToRgba(colour, 0.45)), 0, 0);
      focusMask = { id: p.id, canvas };
    }
    return focusMask.canvas;
  }

  // Drawn in image pixels over the UI layer: each pending box with its score, the focused one
  // filled, and the box being dragged after W.
  function overlay(ctx, v) {
    const px = 1 / v.scale;
    ctx.save();
    ctx.font = `${12 * px}px sans-serif`;
    ctx.lineWidth = 1.5 * px;
    for (const p of items) {
      const [x, y, w, h] = p.bbox;
      const focused = p.id === focus;
      if (focused) ctx.drawImage(focusedCanvas(p), 0, 0);
      ctx.setLineDash(focused ? [] : [4 * px, 3 * px]);
      ctx.strokeStyle = focused ? "#facc15" : "#f59e0bcc";
      ctx.strokeRect(x, y, w, h);
      const text = p.score == null ? "?" : p.score.toFixed(2);
      ctx.fillStyle = "#111c";
      ctx.fillRect(x, y - 14 * px, ctx.measureText(text).width + 6 * px, 14 * px);
      ctx.fillStyle = focused ? "#facc15" : "#fde68a";
      ctx.fillText(text, x + 3 * px, y - 3 * px);
    }
    const d = state.drag;
    if (d?.kind === "proposal-box" && d.box) {
      const [x0, y0, x1, y1] = d.box;
      ctx.setLineDash([6 * px, 4 * px]);
      ctx.strokeStyle = "#facc15";
      ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
    }
    ctx.restore();
  }

  // W: the next drag on the stage is a box; what lies inside it is kept, then the tool before
  // returns.
  const boxTool = {
    cursor: "cell",
    down({ xy }) {
      state.drag = { kind: "proposal-box", start: xy, box: null };
    },
    drag({ xy }) {
      const d = state.drag;
      d.box = [...d.start, ...clampToImage(xy[0], xy[1], state.image.width, state.image.height)];
      drawing.drawUi();
      return true;
    },
    async up(d) {
      tools.setMode(modeBefore ?? "sam");
      if (!d.box) return;
      const [ax, ay, bx, by] = d.box;
      const box = [Math.min(ax, bx), Math.min(ay, by), Math.max(ax, bx), Math.max(ay, by)];
      if (box[2] - box[0] >= 1 && box[3] - box[1] >= 1) await keepInside(box);
    },
    keys: { clear: () => (tools.setMode(modeBefore ?? "sam"), true) },
  };

  function step(by) {
    if (!items.length) return;
    const i = items.findIndex((p) => p.id === focus);
    setFocus(items[(i + by + items.length) % items.length].id);
  }

  $("proposal-min-score").addEventListener("input", syncSlider);
  window.addEventListener("proposals:changed", (e) => {
    const id = e.detail?.imageId;
    if (id == null || Number(id) === state.imageId) load();
  });

  return {
    load, forget, overlay, boxTool,
    // Hovering the stage focuses the proposal under the mouse (whatever the tool).
    hover: (xy) => {
      const p = items.length && xy ? under(xy) : null;
      if (p) setFocus(p.id);
    },
    actions: {
      everything: () => start(),
      everythingOptions: () => startWithOptions(),
      proposalKeep: () => focus != null && keep(focus),
      proposalDrop: () => focus != null && drop(focus),
      proposalNext: (by) => step(by),
      proposalsKeepAbove: () => keepAbove(),
      proposalsDropAll: () => dropAll(),
      proposalBox: () => {
        if (!items.length || state.readOnly) return;
        if (state.mode !== "proposal-box") modeBefore = state.mode;
        tools.setMode("proposal-box");
      },
    },
    // For tests: the pending proposals as the page holds them.
    list: () => items.map((p) => ({ id: p.id, score: p.score, bbox: p.bbox, label: p.label })),
    focused: () => focus,
  };
}
