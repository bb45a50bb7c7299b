// The decoder Web Worker: onnxruntime-web runs SAM's prompt encoder + mask decoder over a
// prepared image embedding (see export_onnx/fast.py for the graph split). The manifest's
// model.family picks the model: "sam2" (SAM 2.1, export_onnx/sam2.py) takes the SAM 2 feature
// wire format (export_onnx/wire2.py) in "embed", decodes it (wire2.js), runs prepare.onnx per
// image, and builds prompts and full-size masks the SAM 2 way (sam2.js); anything else is SAM 1.
//
// Messages in (postMessage):
//   {type: "load", manifestUrl, wasmPaths?, numThreads?, executionProviders?, quantized?}
//       -> {type: "loaded", manifest, executionProviders, numThreads, crossOriginIsolated}
//   {type: "embed", id, buffer (ArrayBuffer, wire format), origSize?: [h, w]}
//       runs prepare.onnx once and caches the result under `id`
//       -> {type: "embedded", id, ms, modelKey, decodeMs (SAM 2: the wire decode's share of ms)}
//   {type: "decode", id, seq, points, labels, box, maskInput, multimask, pick?, candidates?}
//       latest wins: a decode still queued when a newer one arrives is dropped and answered
//       {type: "dropped", id, seq}; otherwise
//       -> {type: "decoded", id, seq, lowRes (Float32Array 256*256, transferred, the chosen
//           mask's logits), scores (Float32Array 4), chosen, ms, masks?}
//       with `candidates: true`, masks is every mask token's logits (Float32Array 4*256*256,
//       transferred, token k at k*256*256), so the page can switch candidates without a decode
//   {type: "fullmask", id, seq, lowRes, origSize} -> {type: "fullmask", id, seq, mask (Uint8Array
//       origH*origW, 1 = inside, transferred), logits?: none}
//   {type: "forget", id} drops a cached image.
//   {type: "bench", url, feeds, runs} times any graph with the same settings (diagnostics).
// Errors come back as {type: "error", id, seq, message}.
// SAM 2 ("loaded" says family: "sam2"): "embed" takes the SAM 2 feature wire bytes; "decoded"
// lowRes is unclamped (feed it back as maskInput as it is: the worker clamps it to +-32 as the
// reference does); scores has 4 entries, index 0 being SAM 2's single-mask answer (dynamic
// fallback applied) and 1..3 the multimask candidates; "fullmask" upsamples straight to (h, w).
import * as ort from "onnxruntime-web";
import { buildMaskTensors, buildPromptTensors, chooseMask, wireTensors } from "./feeds.js";
import { upsampleMask } from "./upsample.js";
import { buildSam2PromptTensors, chooseSam2Mask, clampLowRes, upsampleSam2Mask } from "./sam2.js";
import { decodeSam2Features, readSam2Header } from "./wire2.js";

const state = { manifest: null, base: null, sessions: {}, images: new Map(), modelKey: null };
const queue = [];
const MAX_IMAGES = 4;
let running = false;

function tensors(obj) {
  const out = {};
  for (const [name, t] of Object.entries(obj)) {
    if (t instanceof ort.Tensor) {
      out[name] = t;
      continue;
    }
    const type = t.data instanceof Uint8Array ? "uint8" : "float32";
    out[name] = new ort.Tensor(type, t.data, t.dims);
  }
  return out;
}

function sessionOptions() {
  // `profile` (load option) prints onnxruntime's per-node timings to the console on {type: "profile"}.
  return { executionProviders: state.providers, graphOptimizationLevel: "all", enableProfiling: Boolean(state.profile) };
}

// navigator.gpu exists in browsers whose GPU is blocklisted or disabled; only an adapter counts.
async function webgpuAvailable() {
  try {
    return Boolean(await self.navigator?.gpu?.requestAdapter());
  } catch {
    return false;
  }
}

async function load({ manifestUrl, wasmPaths, numThreads, executionProviders, profile, quantized = false }) {
  state.profile = profile;
  if (profile) ort.env.logLevel = "verbose";
  const url = new URL(manifestUrl, self.location.href);
  ort.env.wasm.wasmPaths = wasmPaths ?? new URL("../ort/", self.location.href).href;
  const cores = self.navigator?.hardwareConcurrency ?? 1;
  // Threads need SharedArrayBuffer, which only a cross-origin isolated page has (COOP/COEP).
  ort.env.wasm.numThreads = numThreads ?? (self.crossOriginIsolated ? Math.min(4, cores) : 1);
  state.providers = executionProviders ?? ((await webgpuAvailable()) ? ["webgpu", "wasm"] : ["wasm"]);
  const res = await fetch(url);
  if (!res.ok) throw new Error(`manifest ${url}: HTTP ${res.status}`);
  const manifest = await res.json();
  state.manifest = manifest;
  state.base = url;
  state.family = manifest.model?.family === "sam2" ? "sam2" : "sam1";
  state.modelKey = (state.family === "sam2" ? manifest.features?.wire?.model_key : manifest.embedding?.wire?.model_key) ?? null;
  // `quantized: true` picks decode.int8.onnx when the export has it (4x smaller download; its
  // measured mask agreement is in manifest.verification.decode_int8).
  const graphs = { prepare: "prepare", decode: quantized && manifest.graphs.decode_int8 ? "decode_int8" : "decode" };
  for (const [role, name] of Object.entries(graphs)) {
    const file = manifest.graphs[name].file;
    state.sessions[role] = await ort.InferenceSession.create(new URL(file, url).href, sessionOptions());
  }
  return {
    type: "loaded",
    manifest,
    family: state.family,
    executionProviders: state.providers,
    numThreads: ort.env.wasm.numThreads,
    crossOriginIsolated: self.crossOriginIsolated,
  };
}

async function prepare(buffer, maskInput, features = null) {
  const sam2 = state.family === "sam2";
  const wire = sam2 ? readSam2Header(buffer) : wireTensors(buffer);
  // An all-zero key means "unknown model" (embeddings written without one); anything else must
  // be the checkpoint this decoder was exported from.
  const unknown = /^0+$/.test(wire.modelKey);
  if (state.modelKey && !unknown && wire.modelKey !== state.modelKey) {
    throw new Error(`embedding was computed by another model (key ${wire.modelKey}, decoder ${state.modelKey})`);
  }
  if (!sam2) {
    const feeds = tensors({ ...wire.tensors, ...buildMaskTensors(maskInput) });
    return { prepared: await state.sessions.prepare.run(feeds), wire };
  }
  // SAM 2: the wire decodes to float32 features once per image (kept for mask-input clicks);
  // a fed-back mask is clamped to +-32 as the reference's returned low-res logits are.
  const t0 = performance.now();
  const feats = features ?? tensors(decodeSam2Features(buffer));
  const decodeMs = features ? 0 : performance.now() - t0;
  const mask = tensors(buildMaskTensors(maskInput ? clampLowRes(maskInput) : null));
  const prepared = await state.sessions.prepare.run({ ...feats, ...mask });
  return { prepared, wire, features: feats, decodeMs };
}

async function embed({ id, buffer, origSize }) {
  const t0 = performance.now();
  const { prepared, wire, features, decodeMs } = await prepare(buffer, null);
  const old = state.images.get(id);
  if (old) disposeImage(old);
  state.images.delete(id);
  state.images.set(id, { prepared, features, buffer, origSize: origSize ?? wire.originalSize });
  // Each prepared image holds ~15 MB; keep the few most recently opened (Map keeps insertion order).
  while (state.images.size > MAX_IMAGES) {
    const [oldest, entry] = state.images.entries().next().value;
    disposeImage(entry);
    state.images.delete(oldest);
  }
  return { type: "embedded", id, ms: performance.now() - t0, modelKey: wire.modelKey, decodeMs };
}

function disposeAll(outputs) {
  for (const t of Object.values(outputs)) t.dispose?.();
}

function disposeImage(entry) {
  disposeAll(entry.prepared);
  if (entry.features) disposeAll(entry.features);
}

// `pick`: a candidate index chosen by the user (Tab cycles them); otherwise SAM's own choice.
async function decode({ id, seq, points = [], labels = [], box = null, maskInput = null, multimask = false, origSize, pick = null, candidates = false }) {
  const t0 = performance.now();
  const image = state.images.get(id);
  if (!image) throw new Error(`image ${id} has no embedding here; send {type: "embed"} first`);
  const size = origSize ?? image.origSize;
  // A fed-back mask changes the dense embedding, so its prepared tensors are recomputed for this
  // click only; the cached no-mask ones stay for hovering.
  let prepared = image.prepared;
  let temp = null;
  if (maskInput) {
    temp = (await prepare(image.buffer, maskInput, image.features)).prepared;
    prepared = temp;
  }
  const sam2 = state.family === "sam2";
  const build = sam2 ? buildSam2PromptTensors : buildPromptTensors;
  const prompt = tensors(build({ points, labels, box, origSize: size }));
  const out = await state.sessions.decode.run({ ...prepared, ...prompt });
  if (temp) disposeAll(temp);
  const scores = Float32Array.from(out.iou_predictions.data);
  const chosen =
    Number.isInteger(pick) && pick >= 0 && pick < scores.length ? pick : (sam2 ? chooseSam2Mask : chooseMask)(scores, multimask);
  const all = out.low_res_masks.data;
  const n = 256 * 256;
  const lowRes = all.slice(chosen * n, (chosen + 1) * n);
  // Hover asks for one mask at mouse speed; only a clicked prompt keeps all four (1 MB).
  const masks = candidates ? all.slice(0, 4 * n) : undefined;
  disposeAll(out);
  return { type: "decoded", id, seq, lowRes, masks, scores, chosen, ms: performance.now() - t0 };
}

function fullmask({ id, seq, lowRes, origSize }) {
  const size = origSize ?? state.images.get(id)?.origSize;
  if (!size) throw new Error("fullmask needs origSize");
  const mask = (state.family === "sam2" ? upsampleSam2Mask : upsampleMask)(lowRes, size[0], size[1]);
  return { type: "fullmask", id, seq, mask, size };
}

async function bench({ url, feeds, runs = 20, warmup = 3, image }) {
  const session = await ort.InferenceSession.create(new URL(url, self.location.href).href, sessionOptions());
  // `image`: also feed the prepared tensors of a cached image (timing variants of decode.onnx).
  const all = { ...feeds, ...(image ? state.images.get(image).prepared : {}) };
  const used = Object.fromEntries(session.inputNames.map((name) => [name, all[name]]));
  const times = [];
  for (let i = 0; i < warmup + runs; i++) {
    const t0 = performance.now();
    const out = await session.run(tensors(used));
    if (i >= warmup) times.push(performance.now() - t0);
    disposeAll(out);
  }
  await session.release();
  return { type: "bench", url, times };
}

function profile() {
  for (const session of Object.values(state.sessions)) session.endProfiling();
  return { type: "profile" };
}

function forget({ id }) {
  const entry = state.images.get(id);
  if (entry) disposeImage(entry);
  return { type: "forgotten", id, existed: state.images.delete(id) };
}

const handlers = { load, profile, embed, decode, fullmask, bench, forget };

function transferables(msg) {
  const list = [];
  for (const key of ["lowRes", "masks", "mask"]) if (msg[key]?.buffer) list.push(msg[key].buffer);
  return list;
}

// onnxruntime-web's wasm run finishes without a macrotask turn, so messages posted during a run
// are only delivered when the worker yields to its event loop. Yielding one macrotask before each
// job lets newer decodes arrive (and replace queued ones) before an older one starts.
const tick = new MessageChannel();
let onTick = null;
tick.port1.onmessage = () => onTick?.();
function nextMacrotask() {
  return new Promise((resolve) => {
    onTick = resolve;
    tick.port2.postMessage(0);
  });
}

async function pump() {
  if (running) return;
  running = true;
  while (queue.length) {
    await nextMacrotask();
    const msg = queue.shift();
    if (!msg) break;
    try {
      const reply = await handlers[msg.type](msg);
      self.postMessage(reply, transferables(reply));
    } catch (err) {
      self.postMessage({ type: "error", id: msg.id, seq: msg.seq, request: msg.type, message: String(err?.message ?? err) });
    }
  }
  running = false;
}

self.onmessage = (event) => {
  const msg = event.data;
  if (!handlers[msg?.type]) {
    self.postMessage({ type: "error", message: `unknown message type ${msg?.type}` });
    return;
  }
  if (msg.type === "decode") {
    // Latest wins: hover produces decodes faster than they run; only the newest one matters.
    for (let i = queue.length - 1; i >= 0; i--) {
      if (queue[i].type === "decode") {
        const [old] = queue.splice(i, 1);
        self.postMessage({ type: "dropped", id: old.id, seq: old.seq });
      }
    }
  }
  queue.push(msg);
  pump();
};
