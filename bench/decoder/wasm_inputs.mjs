// What the Node wasm benches share: onnxruntime-web's wasm build from frontend/node_modules (the
// kernels Chromium runs) on one thread, a random wire embedding as prepare.onnx takes it, and the
// prompt a hover sends (one positive point and the padding point: T = 5 output tokens + 2).
import { createRequire } from "node:module";
import { join } from "node:path";

const require = createRequire(join(process.cwd(), "frontend", "package.json"));
export const ort = await import(require.resolve("onnxruntime-web").replace(/ort\.[^/]*$/, "ort.node.min.mjs"));
ort.env.wasm.numThreads = 1;

export const wire = {
  embedding_q: new ort.Tensor("uint8", Uint8Array.from({ length: 256 * 4096 }, () => (Math.random() * 256) | 0), [1, 256, 64, 64]),
  embedding_scale: new ort.Tensor("float32", new Float32Array(256).fill(0.02), [256]),
  embedding_offset: new ort.Tensor("float32", new Float32Array(256).fill(-2.5), [256]),
  mask_input: new ort.Tensor("float32", new Float32Array(65536), [1, 1, 256, 256]),
  has_mask_input: new ort.Tensor("float32", new Float32Array(1), [1]),
};

export const hoverPrompt = {
  point_coords: new ort.Tensor("float32", Float32Array.of(650.5, 182.3, 0, 0), [1, 2, 2]),
  point_labels: new ort.Tensor("float32", Float32Array.of(1, -1), [1, 2]),
};
