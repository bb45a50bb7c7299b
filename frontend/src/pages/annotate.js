// The annotation page for one image (and the next ones: N / P switch images in place, so the
// prefetched embedding of the next image is ready when you get there).
//
// The pieces: ui/decoder_client.js talks to the decoder Web Worker, ui/hover.js turns mouse
// moves into painted masks (latest wins), ui/prompts.js holds the clicks and box of the current
// object, ui/contours.js turns the accepted mask into polygons, ui/annotations.js mirrors the
// saved annotations, ui/undo.js undoes both prompts and saves, ui/render.js draws.
import { api, ApiError, listAll } from "../ui/api.js";
import { AnnotationStore } from "../ui/annotations.js";
import { maskToPolygons, vertexCount } from "../ui/contours.js";
import { DecoderClient } from "../ui/decoder_client.js";
import { clampToImage, deleteVertex, hitVertex, moveVertex, vertices } from "../ui/editing.js";
import { EmbeddingLoader, startDecoder } from "../ui/image_loader.js";
import { HoverLoop } from "../ui/hover.js";
import { actionFor, helpTable } from "../ui/keys.js";
import { EditLock, loadImageElement } from "../ui/loading.js";
import { hexToRgba, logitsToImageData, maskToImageData, paintStroke, polygonsToMask } from "../ui/maskpaint.js";
import { Notices } from "../ui/notices.js";
import * as P from "../ui/prompts.js";
import { Layers, polygonsPath } from "../ui/render.js";
import * as sidebar from "../ui/sidebar.js";
import { routes } from "../ui/routes.js";
import { UndoStack } from "../ui/undo.js";
import { CAN_ANNOTATE, CAN_REVIEW, nextImageFor, reviewImage, STATUS_TEXT, submitImage } from "../ui/workflow.js";
import { Proposals } from "../ui/proposals.js";
import { Viewport } from "../ui/viewport.js";

const root = document.getElementById("annotate");
const $ = (id) => document.getElementById(id);
const notices = new Notices($("notices"));
const view = new Viewport();
const layers = new Layers($("stage"));
const hitCtx = new OffscreenCanvas(1, 1).getContext("2d");

const S = {
  projectId: Number(root.dataset.projectId),
  imageId: null,
  image: null, // API image
  project: null,
  labels: new Map(), // id -> label
  labelOrder: [],
  labelIndex: 0,
  role: null,
  readOnly: true,
  ready: false, // embedding in the worker: hover and clicks decode
  mode: "sam",
  prompts: P.EMPTY,
  hover: null, // {x, y, reply}
  preview: null, // {mask, polygons, state}: the current object's full-res mask, traced
  tolerance: 1,
  show: true,
  selectedId: null,
  vertexHover: -1,
  drag: null, // the gesture in progress
  brushRadius: 12,
  imageEl: null,
  neighbours: [], // image ids of the project, in list order
  modelKey: null,
};

const decoder = new DecoderClient(root.dataset.workerUrl, {
  onDown: (err) =>
    notices.show("worker", `The decoder failed (${err.message}). Your saved annotations are safe; reload to restart it.`, {
      actions: [{ label: "Reload page", run: () => location.reload() }],
    }),
});
const store = new AnnotationStore({ onChange: () => (drawBase(), renderAnnotationList()) });
const undo = new UndoStack({ onChange: () => syncButtons() });
const hover = new HoverLoop({
  decode: (x, y) => decoder.decode(S.imageId, P.hoverRequest(x, y)),
  paint: (reply) => paintHover(reply),
});
const proposals = new Proposals({
  notices,
  store,
  reject: (a) => deleteAnnotation(a),
  select: (id) => {
    S.selectedId = id;
    drawBase();
    renderAnnotationList();
  },
});

// --- Drawing -------------------------------------------------------------------------------------

function currentLabel() {
  return S.labels.get(S.labelOrder[S.labelIndex]) ?? null;
}

function labelColour() {
  return currentLabel()?.color ?? "#3b82f6";
}

function drawBase() {
  layers.drawBase({
    view, image: S.imageEl, annotations: store.list, labels: S.labels, selectedId: S.selectedId, show: S.show,
  });
}

function drawMaskData(imageData) {
  layers.drawMask({ view, imageData, imageW: S.image?.width ?? 1, imageH: S.image?.height ?? 1 });
}

function drawMaskFromLogits(lowRes) {
  drawMaskData(logitsToImageData(lowRes, S.image.height, S.image.width, hexToRgba(labelColour(), 0.45)));
}

function drawUi() {
  const selected = S.mode === "select" ? store.get(S.selectedId) : null;
  const brush = S.cursor && (S.mode === "brush" || S.mode === "eraser")
    ? { x: S.cursor[0], y: S.cursor[1], radius: S.brushRadius, erase: S.mode === "eraser" } : null;
  layers.drawUi({
    view,
    prompts: S.prompts,
    dragBox: S.drag?.kind === "box" ? S.drag.box : null,
    preview: S.preview?.polygons,
    previewColour: "#ffffff",
    vertices: selected ? vertices(S.drag?.kind === "vertex" ? S.drag.polygons : selected.polygons).map((v) => [v.x, v.y]) : null,
    hoverVertex: S.vertexHover,
    brush,
  });
}

function redraw() {
  drawBase();
  if (S.drag?.kind === "brush") drawBrushMask();
  else if (S.prompts.result) drawMaskFromLogits(S.prompts.result.lowRes);
  else if (S.hover?.reply) drawMaskFromLogits(S.hover.reply.lowRes);
  else drawMaskData(null);
  drawUi();
}

function paintHover(reply) {
  // A click started a new object after this hover was sent: its mask must not replace the click's.
  if (!P.isEmpty(S.prompts) || S.mode !== "sam" || S.drag) return;
  S.hover = { ...S.hover, reply };
  drawMaskFromLogits(reply.lowRes);
  renderCandidates(reply);
}

function renderCandidates(reply) {
  sidebar.candidates($("candidates"), reply);
}

// --- Prompts and decoding ------------------------------------------------------------------------

function setPrompts(next, { record = true } = {}) {
  const prev = S.prompts;
  S.prompts = next;
  S.hover = null;
  if (record) {
    undo.push({ kind: "prompt", imageId: S.imageId, undo: () => restorePrompts(prev), redo: () => restorePrompts(next) });
  }
}

function restorePrompts(state) {
  S.prompts = state;
  S.preview = null;
  if (state.result) updatePreview(state);
  redraw();
  renderCandidates(state.result);
}

async function decodePrompts({ multimask, pick } = {}) {
  const state = S.prompts;
  if (P.isEmpty(state)) return null;
  const request = { ...P.decodeRequest(state, { multimask }), pick };
  let reply;
  try {
    reply = await decoder.decode(S.imageId, request);
  } catch (err) {
    notices.show("decode", `Decoding failed: ${err.message}`);
    return null;
  }
  // Dropped by a newer click, or the prompts changed while it ran: the newer answer will come.
  if (reply.type !== "decoded" || S.prompts !== state) return null;
  notices.clear("decode");
  const result = { lowRes: reply.lowRes, scores: reply.scores, chosen: reply.chosen, multimask: request.multimask, ms: reply.ms };
  S.prompts = { ...state, result };
  // The undo entry recorded `state` without its result; keep the decoded one for redo.
  const top = undo.done.at(-1);
  if (top?.kind === "prompt") top.redo = ((s) => () => restorePrompts(s))(S.prompts);
  drawMaskFromLogits(reply.lowRes);
  renderCandidates({ ...reply, multimask: request.multimask });
  await updatePreview(S.prompts);
  return S.prompts;
}

// The full-resolution mask of the current object, traced at the current tolerance and drawn as a
// dashed outline: exactly the polygons Enter will save.
async function updatePreview(state) {
  const { width: w, height: h } = S.image;
  let mask;
  try {
    mask = (await decoder.fullmask(S.imageId, state.result.lowRes, [h, w])).mask;
  } catch (err) {
    notices.show("decode", `Could not build the full mask: ${err.message}`);
    return null;
  }
  if (S.prompts !== state) return null;
  S.preview = { mask, state, polygons: maskToPolygons(mask, w, h, { tolerance: S.tolerance }) };
  showVertexCount();
  drawUi();
  return S.preview;
}

function retrace() {
  if (!S.preview) return;
  const { width: w, height: h } = S.image;
  S.preview.polygons = maskToPolygons(S.preview.mask, w, h, { tolerance: S.tolerance });
  showVertexCount();
  drawUi();
}

function showVertexCount() {
  const polys = S.preview?.polygons ?? [];
  const holes = polys.reduce((n, p) => n + p.holes.length, 0);
  $("vertex-count").textContent = polys.length ? `${polys.length} part(s), ${holes} hole(s), ${vertexCount(polys)} vertices` : "";
}

// The decode of the latest prompt change, so that Enter pressed right after a click waits for it.
function track(promise) {
  S.decoding = promise;
  return promise;
}

async function addPoint(x, y, label) {
  setPrompts(P.addPoint(S.prompts, x, y, label));
  drawUi();
  await track(decodePrompts());
}

async function setBox(box) {
  setPrompts(P.setBox(S.prompts, box));
  drawUi();
  await track(decodePrompts());
}

// Tab: the next of SAM's three candidates for an ambiguous prompt, by asking the worker for it.
async function cycleCandidate(step) {
  const r = S.prompts.result;
  if (!r || !r.multimask) return;
  const order = [1, 2, 3];
  const next = order[(order.indexOf(r.chosen) + step + 3) % 3];
  await decodePrompts({ multimask: true, pick: next });
}

// Exposed for tests and the benchmark: prompts as the reference pack states them, decoded once
// (no mask feedback), exactly what POST /predict computes on the server.
async function setPromptCase({ point_coords = [], point_labels = [], box = null, multimask_output = false }) {
  let state = { ...P.EMPTY, points: point_coords.map(([x, y], i) => ({ x, y, label: point_labels[i] })) };
  if (box) state = P.setBox(state, box);
  setPrompts(state);
  return decodePrompts({ multimask: multimask_output });
}

// --- Saving --------------------------------------------------------------------------------------

async function accept() {
  if (S.readOnly) return notices.show("readonly", "This image is read-only for you; nothing was saved.", { level: "info" });
  if (!S.prompts.result && !P.isEmpty(S.prompts)) await S.decoding;
  let state = S.prompts;
  if (!state.result && S.hover) {
    // Enter while only hovering accepts the hovered mask, as if it had been clicked.
    state = { ...P.addPoint(P.EMPTY, S.hover.x, S.hover.y, 1), result: { ...S.hover.reply, multimask: true } };
    S.prompts = state;
  }
  if (!state.result) return null;
  const label = currentLabel();
  if (!label) return notices.show("labels", "This project has no labels yet; ask a manager to add one.");
  const preview = S.preview?.state === state ? S.preview : await updatePreview(state);
  if (!preview?.polygons.length) return notices.show("empty", "The mask is empty; add a point or a box first.", { level: "info" });
  const fields = {
    label: label.id, polygons: preview.polygons, source: "sam",
    score: Number(state.result.scores[state.result.chosen]), prompts: P.promptsRecord(state),
  };
  const saved = await saveNew(fields, "accept");
  if (saved) clearPrompts({ record: false });
  return saved;
}

// Creates an annotation and records its undo. On failure the fields stay on screen with a retry,
// so a network or server problem never loses the user's work.
async function saveNew(fields, kind) {
  let a;
  try {
    a = await store.create(fields);
  } catch (err) {
    notices.show("save", `Not saved: ${err.message}`, { actions: [{ label: "Retry", run: () => saveNew(fields, kind).then((ok) => ok && notices.clear("save")) }] });
    return null;
  }
  notices.clear("save");
  let id = a.id;
  undo.push({
    kind, imageId: S.imageId,
    undo: async () => {
      await store.remove(id);
      if (S.selectedId === id) S.selectedId = null;
    },
    redo: async () => {
      id = (await store.create(fields)).id;
    },
  });
  return a;
}

// Saves new polygons of an existing annotation. A 409 means someone else saved it meanwhile: the
// user chooses between their version and ours; ours stays in memory until then. A 404 means
// someone else deleted it: the edit stays on screen and can be saved as a new annotation.
async function saveEdit(id, polygons, { record = true } = {}) {
  const before = store.get(id)?.polygons;
  try {
    await store.update(id, { polygons });
  } catch (err) {
    if (err instanceof ApiError && err.status === 409) {
      store.setLocal(id, { polygons });
      notices.show("conflict", "Someone else changed this annotation since you loaded it. Your edit is kept here.", {
        actions: [
          { label: "Keep mine", run: async () => { await store.refresh(id); notices.clear("conflict"); await saveEdit(id, polygons, { record }); } },
          { label: "Take theirs", run: async () => { await store.refresh(id); notices.clear("conflict"); } },
        ],
      });
    } else if (err instanceof ApiError && err.status === 404 && store.get(id)) {
      const fields = { ...AnnotationStore.recipe(store.get(id)), polygons };
      store.setLocal(id, { polygons });
      const drop = () => { store.forget(id); if (S.selectedId === id) S.selectedId = null; notices.clear("conflict"); drawUi(); };
      notices.show("conflict", "Someone else deleted this annotation. Your edit is kept here.", {
        actions: [
          { label: "Save as new", run: async () => { if (await saveNew(fields, "accept")) drop(); } },
          { label: "Discard", run: drop },
        ],
      });
    } else {
      notices.show("save", `Not saved: ${err.message}`, { actions: [{ label: "Retry", run: () => saveEdit(id, polygons, { record }) }] });
    }
    redraw();
    return false;
  }
  notices.clear("save");
  if (record && before) {
    undo.push({ kind: "edit", imageId: S.imageId, undo: () => store.update(id, { polygons: before }), redo: () => store.update(id, { polygons }) });
  }
  return true;
}

async function deleteSelected() {
  if (S.readOnly) return;
  const a = store.get(S.selectedId);
  if (!a) return;
  if (S.mode === "select" && S.vertexHover >= 0) {
    const list = vertices(a.polygons);
    const next = deleteVertex(a.polygons, list[S.vertexHover]);
    S.vertexHover = -1;
    if (next) return saveEdit(a.id, next);
  }
  await deleteAnnotation(a);
}

// Deletes with undo (which recreates it: the server gives it a new id). Returns success.
async function deleteAnnotation(a) {
  if (S.readOnly) return false;
  const fields = AnnotationStore.recipe(a);
  let id = a.id;
  try {
    await store.remove(id);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      store.forget(id); // someone else deleted it already: what the user wanted
    } else if (err instanceof ApiError && err.status === 409) {
      notices.show("conflict", "Someone else changed this annotation since you loaded it; it was not deleted.", {
        actions: [
          { label: "Show theirs", run: async () => { await store.refresh(id); notices.clear("conflict"); } },
          { label: "Delete anyway", run: async () => { await store.refresh(id); notices.clear("conflict"); await deleteAnnotation(store.get(id)); } },
        ],
      });
      return false;
    } else {
      notices.show("save", `Not deleted: ${err.message}`);
      return false;
    }
  }
  if (S.selectedId === id) S.selectedId = null;
  undo.push({
    kind: "delete", imageId: S.imageId,
    undo: async () => { id = (await store.create(fields)).id; },
    redo: async () => { await store.remove(id); },
  });
  drawUi();
  return true;
}

function clearPrompts({ record = true } = {}) {
  if (!P.isEmpty(S.prompts) && record) setPrompts(P.EMPTY);
  S.prompts = P.EMPTY;
  S.preview = null;
  S.hover = null;
  showVertexCount();
  renderCandidates(null);
  redraw();
}

async function runUndo(which) {
  try {
    await undo[which]();
  } catch (err) {
    notices.show("undo", `Could not ${which}: ${err.message}`);
  }
  redraw();
}

// --- Mouse ---------------------------------------------------------------------------------------

const stage = $("stage");

function imagePoint(event) {
  const rect = stage.getBoundingClientRect();
  const sx = event.clientX - rect.left;
  const sy = event.clientY - rect.top;
  return { sx, sy, xy: view.toImage(sx, sy) };
}

function hitAnnotation(x, y) {
  const list = store.list;
  for (let i = list.length - 1; i >= 0; i--) {
    if (hitCtx.isPointInPath(polygonsPath(list[i].polygons), x, y, "evenodd")) return list[i].id;
  }
  return null;
}

stage.addEventListener("contextmenu", (e) => e.preventDefault());

stage.addEventListener("mousedown", (e) => {
  stage.focus();
  const { sx, sy, xy } = imagePoint(e);
  if (e.button === 1 || (e.button === 0 && S.spaceDown)) {
    S.drag = { kind: "pan", sx, sy };
    return;
  }
  if (!S.ready && S.mode === "sam") return;
  if (S.mode === "sam") {
    if (e.button === 2) return void (S.readOnly || addPoint(xy[0], xy[1], 0));
    S.drag = { kind: "press", sx, sy, start: xy, negative: e.altKey };
  } else if (S.mode === "select") {
    const sel = store.get(S.selectedId);
    const k = sel ? hitVertex(vertices(sel.polygons), xy[0], xy[1], 6 / view.scale) : -1;
    if (k >= 0 && !S.readOnly) {
      S.drag = { kind: "vertex", id: sel.id, k, polygons: sel.polygons, moved: false };
    } else {
      S.selectedId = hitAnnotation(xy[0], xy[1]);
      S.vertexHover = -1;
      drawBase();
      drawUi();
      renderAnnotationList();
    }
  } else if (!S.readOnly) {
    startBrush(xy, S.mode === "eraser");
  }
});

window.addEventListener("mousemove", (e) => {
  const { sx, sy, xy } = imagePoint(e);
  const d = S.drag;
  if (d?.kind === "pan") {
    view.pan(sx - d.sx, sy - d.sy);
    d.sx = sx;
    d.sy = sy;
    return redraw();
  }
  if (!stage.contains(e.target) && !d) return;
  S.cursor = xy;
  if (d?.kind === "press" && Math.hypot(sx - d.sx, sy - d.sy) > 5) S.drag = { kind: "box", start: d.start, box: null };
  if (S.drag?.kind === "box") {
    S.drag.box = [...S.drag.start, ...clampToImage(xy[0], xy[1], S.image.width, S.image.height)];
    return drawUi();
  }
  if (d?.kind === "vertex") {
    const v = vertices(d.polygons)[d.k];
    const [x, y] = clampToImage(xy[0], xy[1], S.image.width, S.image.height);
    d.polygons = moveVertex(d.polygons, v, x, y);
    d.moved = true;
    return drawUi();
  }
  if (d?.kind === "brush") return continueBrush(xy);
  if (S.mode === "select") {
    const sel = store.get(S.selectedId);
    const k = sel ? hitVertex(vertices(sel.polygons), xy[0], xy[1], 6 / view.scale) : -1;
    if (k !== S.vertexHover) {
      S.vertexHover = k;
      drawUi();
    }
    return;
  }
  if (S.mode !== "sam") return drawUi();
  // Hover: only while no object is being refined, and only over the image.
  if (!S.ready || !P.isEmpty(S.prompts) || d || !view.contains(xy[0], xy[1])) return;
  S.hover = { x: xy[0], y: xy[1], reply: S.hover?.reply ?? null };
  hover.move(xy[0], xy[1], e.timeStamp).then((r) => {
    if (r?.error) notices.show("decode", `Decoding failed: ${r.error.message}`);
  });
});

window.addEventListener("mouseup", (e) => {
  const d = S.drag;
  S.drag = null;
  if (!d) return;
  if (d.kind === "press" && !S.readOnly) addPoint(d.start[0], d.start[1], d.negative ? 0 : 1);
  else if (d.kind === "box" && d.box && !S.readOnly) setBox(d.box);
  else if (d.kind === "vertex" && d.moved) saveEdit(d.id, d.polygons).then(() => drawUi());
  else if (d.kind === "brush") finishBrush(d);
  redraw();
});

stage.addEventListener("wheel", (e) => {
  e.preventDefault();
  const { sx, sy } = imagePoint(e);
  view.zoomAt(sx, sy, Math.exp(-e.deltaY * 0.0015));
  redraw();
}, { passive: false });

// --- Brush and eraser ----------------------------------------------------------------------------

function startBrush(xy, erase) {
  const { width: w, height: h } = S.image;
  const sel = store.get(S.selectedId);
  if (erase && !sel) return notices.show("brush", "Select an annotation (Edit tool) to erase from it.", { level: "info" });
  const mask = sel ? polygonsToMask(sel.polygons, w, h) : new Uint8Array(w * h);
  S.drag = { kind: "brush", erase, mask, last: xy, id: sel?.id ?? null };
  continueBrush(xy);
}

function continueBrush(xy) {
  const d = S.drag;
  const { width: w, height: h } = S.image;
  paintStroke(d.mask, w, h, d.last, xy, S.brushRadius, d.erase ? 0 : 1);
  d.last = xy;
  drawBrushMask();
  drawUi();
}

function drawBrushMask() {
  const d = S.drag;
  drawMaskData(maskToImageData(d.mask, S.image.width, S.image.height, hexToRgba(labelColour(), 0.45)));
}

async function finishBrush(d) {
  const { width: w, height: h } = S.image;
  const polygons = maskToPolygons(d.mask, w, h, { tolerance: S.tolerance });
  if (d.id) {
    if (polygons.length) await saveEdit(d.id, polygons);
    else notices.show("brush", "Erasing everything would leave an empty annotation; use Delete to remove it.", { level: "info" });
  } else if (polygons.length && currentLabel()) {
    const a = await saveNew({ label: currentLabel().id, polygons, source: "manual" }, "brush");
    if (a) S.selectedId = a.id;
  }
  redraw();
}

// --- Keyboard and buttons ------------------------------------------------------------------------

const actions = {
  accept: () => accept(),
  clear: () => {
    if (!$("help").hidden) return toggleHelp();
    if (!P.isEmpty(S.prompts) || S.hover) return clearPrompts();
    S.selectedId = null;
    redraw();
    renderAnnotationList();
  },
  blur: () => document.activeElement?.blur(),
  cycleCandidate: (step) => cycleCandidate(step),
  undo: () => runUndo("undo"),
  redo: () => runUndo("redo"),
  label: (i) => selectLabel(i),
  nextImage: (step) => gotoNeighbour(step),
  prev: () => gotoNeighbour(-1),
  next: () => gotoNeighbour(1),
  "next-for-me": () => gotoNextForMe(),
  delete: () => deleteSelected(),
  mode: (m) => setMode(m),
  brushSize: (f) => {
    S.brushRadius = Math.max(1, Math.min(200, S.brushRadius * f));
    $("brush-size").value = String(Math.round(S.brushRadius));
    drawUi();
  },
  toggleAnnotations: () => {
    S.show = !S.show;
    $("show-annotations").checked = S.show;
    drawBase();
  },
  fit: () => {
    view.fit(S.image.width, S.image.height);
    redraw();
  },
  help: () => toggleHelp(),
  submit: () => submit(),
  "review-accept": () => review("accept"),
  "review-reject": () => review("reject"),
  everything: () => proposals.start(S.projectId, S.imageId, currentLabel()),
  "proposals-accept-all": () => proposals.acceptAll(),
  "proposals-reject-all": () => proposals.rejectAll(),
};

window.addEventListener("keydown", (e) => {
  if (e.key === " " && stage.contains(e.target)) {
    S.spaceDown = true;
    e.preventDefault();
    return;
  }
  const hit = actionFor(e);
  if (!hit || !actions[hit.action]) return;
  e.preventDefault();
  actions[hit.action](hit.arg);
});
window.addEventListener("keyup", (e) => {
  if (e.key === " ") S.spaceDown = false;
});

root.addEventListener("click", (e) => {
  const button = e.target.closest("button[data-action]");
  if (button && actions[button.dataset.action]) actions[button.dataset.action]();
  const mode = e.target.closest("button[data-mode]");
  if (mode) setMode(mode.dataset.mode);
});

$("tolerance").addEventListener("input", (e) => {
  S.tolerance = Number(e.target.value);
  $("tolerance-value").textContent = `${S.tolerance} px`;
  retrace();
});
$("brush-size").addEventListener("input", (e) => (S.brushRadius = Number(e.target.value)));
$("show-annotations").addEventListener("change", (e) => {
  S.show = e.target.checked;
  drawBase();
});

function toggleHelp() {
  const help = $("help");
  if (!$("help-table").firstChild) $("help-table").appendChild(helpTable());
  help.hidden = !help.hidden;
}

function setMode(mode) {
  S.mode = mode;
  S.vertexHover = -1;
  if (mode !== "sam") {
    S.hover = null;
    if (P.isEmpty(S.prompts)) drawMaskData(null);
  }
  for (const b of document.querySelectorAll("button[data-mode]")) b.setAttribute("aria-pressed", String(b.dataset.mode === mode));
  stage.style.cursor = mode === "select" ? "default" : mode === "sam" ? "crosshair" : "none";
  drawUi();
}

function selectLabel(i) {
  if (i >= S.labelOrder.length) return;
  S.labelIndex = i;
  renderLabels();
  redraw();
  // With an annotation selected, a number key relabels it.
  const sel = store.get(S.selectedId);
  if (sel && !S.readOnly && sel.label !== S.labelOrder[i]) {
    const before = sel.label;
    const after = S.labelOrder[i];
    store.update(sel.id, { label: after }).then(
      () => undo.push({ kind: "relabel", imageId: S.imageId, undo: () => store.update(sel.id, { label: before }), redo: () => store.update(sel.id, { label: after }) }),
      (err) => notices.show("save", `Label not changed: ${err.message}`),
    );
  }
}

function renderLabels() {
  sidebar.labels($("labels"), { order: S.labelOrder, labels: S.labels, current: S.labelIndex, pick: selectLabel });
}

function renderAnnotationList() {
  sidebar.annotations($("annotation-list"), {
    list: store.list,
    labels: S.labels,
    selectedId: S.selectedId,
    pick: (id) => {
      S.selectedId = id;
      setMode("select");
      redraw();
      renderAnnotationList();
    },
  });
}

function syncButtons() {
  document.querySelector("[data-action=undo]").disabled = !undo.canUndo;
  document.querySelector("[data-action=redo]").disabled = !undo.canRedo;
}

// --- Workflow ------------------------------------------------------------------------------------

function showStatus() {
  const el = $("image-status");
  el.dataset.status = S.image.status;
  el.textContent = STATUS_TEXT[S.image.status] ?? S.image.status;
  const reviewer = CAN_REVIEW.has(S.role);
  $("review-box").hidden = !(reviewer && S.image.status === "submitted");
  document.querySelector("[data-action=submit]").disabled = S.readOnly || !["new", "in_progress", "rejected"].includes(S.image.status);
  $("review-note").textContent = S.image.review_comment ? `Reviewer: ${S.image.review_comment}` : "";
}

async function submit() {
  try {
    S.image = { ...S.image, ...(await submitImage(S.imageId)) };
    showStatus();
    notices.show("workflow", "Submitted for review.", { level: "info" });
  } catch (err) {
    notices.show("workflow", `Not submitted: ${err.message}`);
  }
}

async function review(decision) {
  const comment = $("review-comment").value.trim();
  try {
    S.image = { ...S.image, ...(await reviewImage(S.imageId, decision, comment)) };
    $("review-comment").value = "";
    showStatus();
    const said = decision === "accept" ? "Image accepted." : "Image rejected.";
    const note = S.image.commentDropped ? " This server does not store review comments yet; tell the annotator directly." : "";
    notices.show("workflow", said + note, { level: "info" });
  } catch (err) {
    notices.show("workflow", `Review not saved: ${err.message}`);
  }
}

// --- Loading an image ----------------------------------------------------------------------------

let lock = null;

function embeddingState(text) {
  $("embedding-state").textContent = text;
}

const embeddings = new EmbeddingLoader({ decoder, notices, onState: embeddingState });

async function loadDecoder(project) {
  // ?threads=N overrides the worker's WASM thread count (diagnostics and the benchmark).
  const threads = Number(new URLSearchParams(location.search).get("threads")) || undefined;
  const loaded = await startDecoder({ decoder, notices, project, numThreads: threads });
  S.modelKey = loaded.manifest?.embedding?.model_key ?? null;
  $("engine").textContent = `decoder: ${loaded.executionProviders.join("+")}, ${loaded.numThreads} thread(s)${loaded.crossOriginIsolated ? "" : " (not isolated)"}`;
  return loaded;
}

async function openImage(id, { push = false } = {}) {
  S.ready = false;
  lock?.release();
  if (S.imageId && S.imageId !== id) decoder.forget(S.imageId);
  // Undo belongs to the image it was done on; switching images starts a fresh history.
  undo.discard(() => true);
  proposals.forget();
  Object.assign(S, { imageId: id, prompts: P.EMPTY, hover: null, preview: null, selectedId: null, drag: null });
  hover.reset();
  if (push) history.pushState({ id }, "", routes.annotatePage(id));
  embeddingState("loading…");
  const image = await api(routes.image(id));
  S.image = image;
  $("image-name").textContent = image.original_name;
  document.title = `${image.original_name} · SAM Annotator`;
  const [img] = await Promise.all([loadImageElement(image.file_url ?? routes.imageFile(id)), store.load(id)]);
  S.imageEl = img;
  view.fit(image.width, image.height);
  redraw();
  await takeLock();
  showStatus();
  try {
    await embeddings.embed(image);
    S.ready = true;
    notices.clear("embedding-error");
  } catch (err) {
    embeddingState("no embedding");
    const mismatch = /another model/.test(err.message);
    notices.show("embedding-error", mismatch
      ? `The decoder files do not match this image's embedding (${err.message}). Reload the page to fetch the current decoder.`
      : `No embedding for this image yet: ${err.message}`, {
      actions: [{ label: "Try again", run: () => openImage(id) }],
    });
  }
  root.dataset.ready = String(S.ready);
  const k = S.neighbours.indexOf(id);
  if (k >= 0) embeddings.prefetch(S.neighbours[k + 1]);
}

async function takeLock() {
  lock = new EditLock(S.imageId, {
    onLost: (err) => {
      S.readOnly = true;
      showLock(`lock lost: ${err.message}`);
    },
  });
  S.readOnly = !CAN_ANNOTATE.has(S.role);
  if (S.readOnly) return showLock("read-only (your role)");
  const got = await lock.acquire();
  S.readOnly = !got.held;
  showLock(got.held ? null : got.detail);
}

function showLock(raw) {
  // The server's message carries an ISO timestamp; people read a local time.
  const text = raw?.replace(/until (\d{4}-\d\d-\d\d[ T][\d:.]+(?:[+-]\d\d:\d\d|Z)?)/, (_, iso) => {
    const t = new Date(iso.replace(" ", "T"));
    return Number.isNaN(t.getTime()) ? `until ${iso}` : `until ${t.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}`;
  });
  const el = $("lock-state");
  el.hidden = !text;
  const who = text?.match(/edited by (\S+)/)?.[1];
  el.textContent = text ? (who ? `Locked by ${who}` : "Read-only") : "";
  el.title = text ?? "";
  el.classList.toggle("locked", Boolean(text));
  root.dataset.locked = String(Boolean(text));
  if (text) notices.show("lock", `Read-only: ${text}`, { level: "info" });
  else notices.clear("lock");
}

async function gotoNeighbour(step) {
  const k = S.neighbours.indexOf(S.imageId);
  const id = S.neighbours[k + step];
  if (!id) return notices.show("nav", step > 0 ? "This is the last image." : "This is the first image.", { level: "info" });
  await openImage(id, { push: true });
}

async function gotoNextForMe() {
  try {
    const next = await nextImageFor(S.projectId, S.imageId);
    if (!next) return notices.show("nav", "No more images are waiting for you in this project.", { level: "info" });
    await openImage(next.id, { push: true });
  } catch (err) {
    notices.show("nav", `Could not find the next image: ${err.message}`);
  }
}

async function main() {
  const [w, h] = layers.resize();
  view.resize(w, h);
  new ResizeObserver(() => {
    const [rw, rh] = layers.resize();
    view.resize(rw, rh);
    if (S.image) redraw();
  }).observe(stage);
  setMode("sam");
  syncButtons();
  const project = await api(routes.project(S.projectId));
  S.project = project;
  S.role = project.role;
  S.labelOrder = project.labels.map((l) => l.id);
  S.labels = new Map(project.labels.map((l) => [l.id, l]));
  renderLabels();
  listAll(`${routes.images(S.projectId)}`).then((list) => {
    S.neighbours = list.map((i) => i.id);
    const k = S.neighbours.indexOf(S.imageId);
    if (S.ready && k >= 0) embeddings.prefetch(S.neighbours[k + 1]);
  }, () => {});
  const decoderLoaded = loadDecoder(project).catch((err) => {
    notices.show("decoder", `The decoder could not start: ${err.message}. You can still edit, review and delete annotations.`, {
      actions: [{ label: "Reload page", run: () => location.reload() }],
    });
    throw err;
  });
  await Promise.all([decoderLoaded.catch(() => {}), openImage(Number(root.dataset.imageId)).catch((err) => notices.show("image", `Could not open the image: ${err.message}`))]);
  window.addEventListener("pagehide", () => lock?.release());
  window.addEventListener("popstate", (e) => e.state?.id && openImage(e.state.id));
  history.replaceState({ id: S.imageId }, "");
}

// The page as tests and the benchmark drive it (no private state is reachable otherwise).
window.annotator = {
  ready: main(),
  state: () => ({
    imageId: S.imageId, ready: S.ready, readOnly: S.readOnly, mode: S.mode, prompts: P.promptsRecord(S.prompts),
    hasResult: Boolean(S.prompts.result || S.hover?.reply), annotations: store.list.map((a) => a.id),
    canUndo: undo.canUndo, tolerance: S.tolerance, status: S.image?.status, decodeMs: S.prompts.result?.ms ?? null,
    chosen: S.prompts.result?.chosen ?? null,
  }),
  latencies: () => ({ paint: [...hover.latencies], decode: [...hover.decodeMs], overhead: [...hover.overheadMs], dropped: hover.dropped }),
  // The benchmark swaps the hover decoder for Meta's reference one (pages/bench_reference.js).
  setHoverEngine: ({ decode, paint }) => {
    hover.decode = decode;
    hover.paint = paint;
  },
  paintMask: (imageData) => drawMaskData(imageData),
  imageSize: () => [S.image.height, S.image.width],
  resetLatencies: () => hover.reset(),
  setPromptCase,
  accept,
  previewPolygons: () => S.preview?.polygons ?? null,
  setTolerance: (t) => {
    $("tolerance").value = String(t);
    $("tolerance").dispatchEvent(new Event("input"));
  },
  imageToClient: (x, y) => {
    const rect = stage.getBoundingClientRect();
    const [sx, sy] = view.toScreen(x, y);
    return [rect.left + sx, rect.top + sy];
  },
};
