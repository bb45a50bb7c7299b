// Fetches an image's embedding (export_onnx/wire.py bytes). While the server is still computing
// it answers 202 with Retry-After; we wait and ask again, reporting each state so the page can
// show "computing" and then a download percentage instead of a frozen spinner.
import { ApiError } from "./api.js";

const sleep = (ms, signal) =>
  new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(t);
      reject(new DOMException("aborted", "AbortError"));
    });
  });

// Sent gzipped (stored so on the server), the body arrives decoded while Content-Length counts
// the compressed bytes: X-Decoded-Length is the size that arrives, and the buffer grows anyway
// rather than trust either header.
function expectedLength(res) {
  return Number(res.headers.get("X-Decoded-Length")) || (res.headers.get("Content-Encoding") ? 0 : Number(res.headers.get("Content-Length")) || 0);
}

async function readWithProgress(res, onState) {
  const total = expectedLength(res);
  if (!res.body || !total) return res.arrayBuffer();
  let out = new Uint8Array(total);
  const reader = res.body.getReader();
  let got = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (got + value.length > out.length) {
      const bigger = new Uint8Array(Math.max(2 * out.length, got + value.length));
      bigger.set(out.subarray(0, got));
      out = bigger;
    }
    out.set(value, got);
    got += value.length;
    onState({ state: "downloading", loaded: got, total });
  }
  return out.buffer.slice(0, got);
}

// Resolves the ArrayBuffer; onState({state: "computing" | "downloading", ...}) along the way.
export async function fetchEmbedding(url, { onState = () => {}, signal, maxWaitMs = 600000 } = {}) {
  const start = performance.now();
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(url, { credentials: "same-origin", signal });
    if (res.status === 202) {
      let detail = "";
      try {
        detail = (await res.json()).status ?? "";
      } catch {
        // A body-less 202 is fine.
      }
      const retry = Math.min(10, Math.max(0.5, Number(res.headers.get("Retry-After")) || 1));
      onState({ state: "computing", detail, attempt });
      if (performance.now() - start > maxWaitMs) throw new ApiError(202, "the embedding is still being computed; try again later");
      await sleep(retry * 1000, signal);
      continue;
    }
    if (!res.ok) {
      let detail = `HTTP ${res.status}`;
      try {
        detail = (await res.json()).detail ?? detail;
      } catch {
        // Keep the status line.
      }
      throw new ApiError(res.status, detail);
    }
    onState({ state: "downloading", loaded: 0, total: expectedLength(res) });
    return readWithProgress(res, onState);
  }
}
