// Per-node profile of the fast path's decode.onnx in onnxruntime-web's WebAssembly build (the
// kernels Chromium runs), one thread, under Node. onnxruntime prints its profile (Chrome trace
// JSON) to stdout when profiling ends; bench/decoder/wasm_profile.py aggregates it.
// Usage: node bench/decoder/wasm_profile.mjs EXPORT_DIR RUNS > trace.json
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { hoverPrompt, ort, wire } from "./wasm_inputs.mjs";

const [exportDir, runsArg] = process.argv.slice(2);
const load = (name, profile) =>
  ort.InferenceSession.create(readFileSync(join(exportDir, name)), { executionProviders: ["wasm"], enableProfiling: profile });
const prepare = await load("prepare.onnx", false);
const decode = await load("decode.onnx", true);
const feeds = { ...(await prepare.run(wire)), ...hoverPrompt };
for (let i = 0; i < Number(runsArg ?? 8); i++) await decode.run(feeds);
decode.endProfiling();
