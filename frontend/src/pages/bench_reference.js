// Benchmark only (bench/page_latency.py loads it into the annotation page): Meta's reference
// decoder driven the way Meta's web demo drives it, so the page's hover latency can be compared
// with it in the same run. The demo runs the single exported decoder on the main thread with a
// float32 image embedding, one positive point plus the padding point, a zero mask_input and
// orig_im_size, and paints every mask logit > 0 of the full-size output.
import * as ort from "onnxruntime-web";
import { buildReferenceFeeds, wireTensors } from "../decoder/feeds.js";

// The wire embedding back to float32 (the demo loads a float .npy embedding).
function dequantize(buffer) {
  const { tensors } = wireTensors(buffer);
  const [, c, h, w] = tensors.embedding_q.dims;
  const q = tensors.embedding_q.data;
  const out = new Float32Array(c * h * w);
  for (let ch = 0; ch < c; ch++) {
    const s = tensors.embedding_scale.data[ch];
    const o = tensors.embedding_offset.data[ch];
    for (let i = ch * h * w, end = (ch + 1) * h * w; i < end; i++) out[i] = q[i] * s + o;
  }
  return new ort.Tensor("float32", out, [1, c, h, w]);
}

function tensors(feeds) {
  const out = {};
  for (const [name, t] of Object.entries(feeds)) out[name] = new ort.Tensor("float32", t.data, t.dims);
  return out;
}

window.benchReference = {
  async install({ modelUrl, embeddingUrl }) {
    ort.env.wasm.wasmPaths = new URL("../ort/", import.meta.url).href;
    const session = await ort.InferenceSession.create(modelUrl, { executionProviders: ["wasm"] });
    const embedding = dequantize(await (await fetch(embeddingUrl)).arrayBuffer());
    const page = window.annotator;
    const [h, w] = page.imageSize();
    let seq = 1e9; // above every seq the worker client has used
    page.setHoverEngine({
      async decode(x, y) {
        const t0 = performance.now();
        const feeds = tensors(buildReferenceFeeds({ points: [[x, y]], labels: [1], origSize: [h, w] }));
        const out = await session.run({ image_embeddings: embedding, ...feeds });
        return { type: "decoded", seq: ++seq, masks: out.masks.data, ms: performance.now() - t0 };
      },
      paint(reply) {
        // onnxMaskToImage of the demo: the first mask, coloured where the logit is above 0.
        const image = new ImageData(w, h);
        const px = new Uint32Array(image.data.buffer);
        for (let i = 0; i < w * h; i++) if (reply.masks[i] > 0) px[i] = 0x730073ff;
        page.paintMask(image);
      },
    });
    return { threads: ort.env.wasm.numThreads, inputs: session.inputNames };
  },
};
