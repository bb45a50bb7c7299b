// CPU time of the decoder graphs in onnxruntime-web's WebAssembly build (the same wasm kernels
// Chromium runs), single-threaded under Node, measured with process.cpuUsage(): unlike wall-clock
// time in a browser, CPU time of one thread is barely moved by other jobs on a busy machine.
// Usage: node bench/decoder/wasm_cpu.mjs EXPORT_DIR REFERENCE_ONNX [rounds] -> JSON on stdout.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { hoverPrompt as prompt, ort, wire } from "./wasm_inputs.mjs";

const [exportDir, referencePath, roundsArg] = process.argv.slice(2);
const rounds = Number(roundsArg ?? 10);
const rnd = (n) => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
const options = { executionProviders: ["wasm"], graphOptimizationLevel: "all" };
const load = (path) => ort.InferenceSession.create(readFileSync(path), options);
const prepare = await load(join(exportDir, "prepare.onnx"));
const decode = await load(join(exportDir, "decode.onnx"));
const reference = await load(referencePath);

const prepared = await prepare.run(wire);
const decodeFeeds = { ...prepared, ...prompt };
const referenceFeeds = {
  image_embeddings: new ort.Tensor("float32", rnd(256 * 4096), [1, 256, 64, 64]),
  ...prompt,
  mask_input: wire.mask_input,
  has_mask_input: wire.has_mask_input,
  orig_im_size: new ort.Tensor("float32", Float32Array.of(300, 451), [2]),
};

async function cpuMs(session, feeds) {
  const c0 = process.cpuUsage();
  await session.run(feeds);
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
}

const times = { decode: [], reference: [], prepare: [] };
await cpuMs(decode, decodeFeeds);
await cpuMs(reference, referenceFeeds);
for (let i = 0; i < rounds; i++) {
  times.decode.push(await cpuMs(decode, decodeFeeds));
  times.reference.push(await cpuMs(reference, referenceFeeds));
  if (i % 3 === 0) times.prepare.push(await cpuMs(prepare, wire));
}
const stat = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return { p50: s[Math.floor(s.length / 2)], p90: s[Math.min(s.length - 1, Math.floor(s.length * 0.9))], min: s[0], n: s.length };
};
console.log(JSON.stringify({ decode: stat(times.decode), reference: stat(times.reference), prepare: stat(times.prepare) }));
