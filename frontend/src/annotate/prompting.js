// SAM prompting: the hover mask under the cursor, the clicks and box of the object being
// segmented, their decodes by the worker (ui/decoder_client.js), and the full-resolution preview
// traced into the polygons that Enter saves. The gestures that call in here are in sam_tool.js.
import { maskToPolygons, vertexCount } from "../ui/contours.js";
import { HoverLoop } from "../ui/hover.js";
import * as P from "../ui/prompts.js";
import * as sidebar from "../ui/sidebar.js";
import { $ } from "./dom.js";

export function createPrompting({ state, decoder, drawing, undo, notices }) {
  const log = []; // per prompt decode: {maskInputFrom: candidate index or null, maskInputSum}
  const sum = (values) => values.reduce((a, v) => a + v, 0);
  const hover = new HoverLoop({
    decode: (x, y) => decoder.decode(state.imageId, P.hoverRequest(x, y)),
    paint: (reply, ticket) => paintHover(reply, ticket),
  });
  // The hover atlas (atlas_hover.js), when there is one, decides which moves are decoded exactly
  // and whether an exact answer may still replace what it painted.
  let route = null;

  function paintHover(reply, ticket) {
    // A click started a new object after this hover was sent: its mask must not replace the click's.
    if (!P.isEmpty(state.prompts) || state.mode !== "sam" || state.drag) return false;
    if (route && !route.mayPaint(ticket)) return false;
    state.hover = { ...state.hover, reply };
    route?.painted(ticket, reply);
    drawing.drawMaskData(drawing.logitsImage(reply.lowRes));
    sidebar.candidates($("candidates"), reply);
  }

  // The current object's candidates; a click on one shows it, as Tab does.
  function renderCandidates(reply) {
    sidebar.candidates($("candidates"), reply, (i) => pickCandidate(i));
  }

  // A mouse position over the image while no object is started: decode it, latest wins (or, with
  // an atlas, paint the atlas's mask and decode when the exact mask can be seen).
  function hoverAt(x, y, timeStamp) {
    // No hover state: a click, Esc or another tool dropped what the last hover showed.
    const fresh = !state.hover;
    state.hover = { x, y, reply: state.hover?.reply ?? null };
    if (route) return route.move(x, y, timeStamp, fresh);
    exactHover(x, y, timeStamp);
  }

  function exactHover(x, y, timeStamp, ticket = null) {
    hover.move(x, y, timeStamp, ticket).then((r) => {
      if (r?.error) notices.show("decode", `Decoding failed: ${r.error.message}`);
    });
  }

  function setPrompts(next, { record = true } = {}) {
    const prev = state.prompts;
    state.prompts = next;
    state.hover = null;
    if (record) {
      undo.push({ kind: "prompt", imageId: state.imageId, undo: () => restorePrompts(prev), redo: () => restorePrompts(next) });
    }
  }

  function restorePrompts(snapshot) {
    state.prompts = snapshot;
    state.preview = null;
    if (snapshot.result) updatePreview(snapshot);
    drawing.redraw();
    renderCandidates(snapshot.result);
  }

  // Decodes the current prompts. Refining (a result is there) feeds the chosen candidate's low-res
  // logits back as mask_input; `log` keeps which candidate that was, for the tests to check.
  async function decodePrompts({ multimask } = {}) {
    const asked = state.prompts;
    if (P.isEmpty(asked)) return null;
    const request = P.decodeRequest(asked, { multimask });
    if (log.length >= 50) log.shift();
    log.push({ maskInputFrom: request.maskInput ? asked.result.chosen : null, maskInputSum: request.maskInput ? sum(request.maskInput) : null });
    let reply;
    try {
      reply = await decoder.decode(state.imageId, request);
    } catch (err) {
      notices.show("decode", `Decoding failed: ${err.message}`);
      return null;
    }
    // Dropped by a newer click, or the prompts changed while it ran: the newer answer will come.
    if (reply.type !== "decoded" || state.prompts !== asked) return null;
    notices.clear("decode");
    const result = {
      lowRes: reply.lowRes, masks: reply.masks ?? null, scores: reply.scores, chosen: reply.chosen, multimask: request.multimask, ms: reply.ms,
      points: asked.points, box: asked.box, // what it was decoded for (P.isCurrent)
    };
    state.prompts = { ...asked, result };
    // The undo entry recorded `asked` without its result; keep the decoded one for redo.
    const top = undo.done.at(-1);
    if (top?.kind === "prompt") top.redo = ((s) => () => restorePrompts(s))(state.prompts);
    drawing.drawMaskData(drawing.logitsImage(reply.lowRes));
    renderCandidates(result);
    await updatePreview(state.prompts);
    return state.prompts;
  }

  // The full-resolution mask of the current object, traced at the current tolerance and drawn as a
  // dashed outline: exactly the polygons Enter will save.
  async function updatePreview(snapshot) {
    const { width: w, height: h } = state.image;
    let mask;
    try {
      mask = (await decoder.fullmask(state.imageId, snapshot.result.lowRes, [h, w])).mask;
    } catch (err) {
      notices.show("decode", `Could not build the full mask: ${err.message}`);
      return null;
    }
    if (state.prompts !== snapshot) return null;
    state.preview = { mask, state: snapshot, polygons: maskToPolygons(mask, w, h, { tolerance: state.tolerance }) };
    showVertexCount();
    drawing.drawUi();
    return state.preview;
  }

  function retrace() {
    if (!state.preview) return;
    const { width: w, height: h } = state.image;
    state.preview.polygons = maskToPolygons(state.preview.mask, w, h, { tolerance: state.tolerance });
    showVertexCount();
    drawing.drawUi();
  }

  function showVertexCount() {
    const polys = state.preview?.polygons ?? [];
    const holes = polys.reduce((n, p) => n + p.holes.length, 0);
    $("vertex-count").textContent = polys.length ? `${polys.length} part(s), ${holes} hole(s), ${vertexCount(polys)} vertices` : "";
  }

  // The decode of the latest prompt change, so that Enter pressed right after a click waits for it.
  function track(promise) {
    state.decoding = promise;
    return promise;
  }

  async function addPoint(x, y, label) {
    setPrompts(P.addPoint(state.prompts, x, y, label));
    drawing.drawUi();
    await track(decodePrompts());
  }

  async function setBox(box) {
    setPrompts(P.setBox(state.prompts, box));
    drawing.drawUi();
    await track(decodePrompts());
  }

  // Tab: another of the three candidates the last decode gave for this prompt. No new decode: a
  // decode would feed the current mask back and answer with different candidates and scores.
  async function showCandidate(next) {
    if (next === state.prompts) return;
    // Not an undo step of its own: the next click refines whichever candidate is showing.
    state.prompts = next;
    const top = undo.done.at(-1);
    if (top?.kind === "prompt") top.redo = ((s) => () => restorePrompts(s))(next);
    drawing.drawMaskData(drawing.logitsImage(next.result.lowRes));
    renderCandidates(next.result);
    await updatePreview(next);
  }

  const cycleCandidate = (step) => showCandidate(P.cycleCandidate(state.prompts, step));
  const pickCandidate = (index) => showCandidate(P.withCandidate(state.prompts, index));

  // For tests and the benchmark: prompts as the reference pack states them, decoded once (no mask
  // feedback), exactly what POST /predict computes on the server.
  async function setPromptCase({ point_coords = [], point_labels = [], box = null, multimask_output = false }) {
    let next = { ...P.EMPTY, points: point_coords.map(([x, y], i) => ({ x, y, label: point_labels[i] })) };
    if (box) next = P.setBox(next, box);
    setPrompts(next);
    return decodePrompts({ multimask: multimask_output });
  }

  function clearPrompts({ record = true } = {}) {
    if (!P.isEmpty(state.prompts) && record) setPrompts(P.EMPTY);
    state.prompts = P.EMPTY;
    state.preview = null;
    state.hover = null;
    showVertexCount();
    renderCandidates(null);
    drawing.redraw();
  }

  // Another image: its object starts from nothing, and the side panel says so.
  function reset() {
    Object.assign(state, { prompts: P.EMPTY, hover: null, preview: null });
    hover.reset();
    showVertexCount();
    renderCandidates(null);
  }

  // Leaving SAM for another tool drops the hover mask (a started object stays on screen).
  function modeChanged(mode) {
    if (mode === "sam") return;
    state.hover = null;
    if (P.isEmpty(state.prompts)) drawing.drawMaskData(null);
  }

  $("tolerance").addEventListener("input", (e) => {
    state.tolerance = Number(e.target.value);
    $("tolerance-value").textContent = `${state.tolerance} px`;
    retrace();
  });

  return {
    hover, log, hoverAt, exactHover, addPoint, setBox, cycleCandidate, pickCandidate, setPromptCase, clearPrompts, updatePreview, reset, modeChanged,
    // The object's mask, shown whatever the tool: the decoded prompts, else the hover.
    mask: () => {
      const lowRes = state.prompts.result?.lowRes ?? state.hover?.reply?.lowRes;
      return lowRes ? drawing.logitsImage(lowRes) : undefined;
    },
    ui: () => ({ prompts: state.prompts, preview: state.preview?.polygons, previewColour: "#ffffff" }),
    actions: { cycleCandidate: (step) => cycleCandidate(step) },
    routeHover: (r) => (route = r),
    // Hover needs the embedding, or an atlas to paint from while the embedding is on its way.
    canHover: () => state.ready || Boolean(route?.ready()),
  };
}
