// Per-node profile of the fast path's decode.onnx in onnxruntime-web's WebAssembly build (the
// kernels Chromium runs), one thread, under Node. onnxruntime prints its profile (Chrome trace
// JSON) to stdout when profiling ends; bench/decoder/wasm_profile.py aggregates it.
// Usage: node bench/decoder/wasm_profile.mjs EXPORT_DIR RUNS > trace.json
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const require = createRequire(join(process.cwd(), "frontend", "package.json"));
const ort = await import(require.resolve("onnxruntime-web").replace(/ort\.[^/]*$/, "ort.node.min.mjs"));
ort.env.wasm.numThreads = 1;

const [exportDir, runsArg] = process.argv.slice(2);
const load = (name, profile) =>
  ort.InferenceSession.create(readFileSync(join(exportDir, name)), { executionProviders: ["wasm"], enableProfiling: profile });
const prepare = await load("prepare.onnx", false);
const decode = await load("decode.onnx", true);
const wire = {
  embedding_q: new ort.Tensor("uint8", Uint8Array.from({ length: 256 * 4096 }, () => (Math.random() * 256) | 0), [1, 256, 64, 64]),
  embedding_scale: new ort.Tensor("float32", new Float32Array(256).fill(0.02), [256]),
  embedding_offset: new ort.Tensor("float32", new Float32Array(256).fill(-2.5), [256]),
  mask_input: new ort.Tensor("float32", new Float32Array(65536), [1, 1, 256, 256]),
  has_mask_input: new ort.Tensor("float32", new Float32Array(1), [1]),
};
// One positive point and the padding point: what a hover sends (T = 5 output tokens + 2).
const feeds = {
  ...(await prepare.run(wire)),
  point_coords: new ort.Tensor("float32", Float32Array.of(650.5, 182.3, 0, 0), [1, 2, 2]),
  point_labels: new ort.Tensor("float32", Float32Array.of(1, -1), [1, 2]),
};
for (let i = 0; i < Number(runsArg ?? 8); i++) await decode.run(feeds);
decode.endProfiling();
