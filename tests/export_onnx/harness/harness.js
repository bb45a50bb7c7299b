// Test and benchmark harness: drives the real decoder worker (frontend/dist/decoder/worker.js)
// and exposes promise-returning helpers on window.harness for Playwright's page.evaluate.
// Float arrays travel back to Python as base64 of their little-endian bytes.
const worker = new Worker("/dist/decoder/worker.js", { type: "module" });
const waiting = new Map();
let counter = 0;

worker.onmessage = (event) => {
  const msg = event.data;
  const replyTo = { load: "loaded", embed: "embedded", fullmask: "fullmask", bench: "bench" };
  let key = msg.type;
  if (msg.type === "dropped" || msg.type === "decoded") key = `decode:${msg.seq}`;
  if (msg.type === "error") key = msg.request === "decode" ? `decode:${msg.seq}` : replyTo[msg.request];
  const entry = waiting.get(key);
  if (!entry) return;
  waiting.delete(key);
  if (msg.type === "error") entry.reject(new Error(msg.message));
  else entry.resolve(msg);
};
worker.onerror = (e) => {
  for (const entry of waiting.values()) entry.reject(new Error(e.message));
  waiting.clear();
};

function call(key, message, transfer = []) {
  return new Promise((resolve, reject) => {
    waiting.set(key, { resolve, reject });
    worker.postMessage(message, transfer);
  });
}

function b64(typed) {
  const bytes = new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function unb64(text, Type) {
  const s = atob(text);
  const bytes = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) bytes[i] = s.charCodeAt(i);
  return new Type(bytes.buffer);
}

window.harness = {
  crossOriginIsolated: self.crossOriginIsolated,
  async load(manifestUrl, options = {}) {
    const msg = await call("loaded", { type: "load", manifestUrl: new URL(manifestUrl, location.href).href, ...options });
    return { numThreads: msg.numThreads, executionProviders: msg.executionProviders, crossOriginIsolated: msg.crossOriginIsolated, family: msg.family };
  },
  async embed(id, url, origSize) {
    const buffer = await (await fetch(url)).arrayBuffer();
    const msg = await call("embedded", { type: "embed", id, buffer, origSize }, [buffer]);
    return { ms: msg.ms, modelKey: msg.modelKey, decodeMs: msg.decodeMs };
  },
  async decode(prompt) {
    const seq = ++counter;
    const msg = await call(`decode:${seq}`, { type: "decode", seq, ...prompt, maskInput: prompt.maskInput ? unb64(prompt.maskInput, Float32Array) : null });
    return { seq: msg.seq, type: msg.type, lowRes: msg.lowRes ? b64(msg.lowRes) : null, scores: msg.scores ? Array.from(msg.scores) : null, chosen: msg.chosen, ms: msg.ms };
  },
  // Fires `prompts` decodes back to back without waiting: all but the last queued ones get dropped.
  async burst(prompts) {
    const seqs = prompts.map(() => ++counter);
    const replies = await Promise.all(prompts.map((p, i) => call(`decode:${seqs[i]}`, { type: "decode", seq: seqs[i], ...p })));
    return replies.map((m) => ({ seq: m.seq, type: m.type }));
  },
  async fullmask(id, lowResB64, origSize) {
    const lowRes = unb64(lowResB64, Float32Array);
    const msg = await call("fullmask", { type: "fullmask", id, seq: 0, lowRes, origSize }, [lowRes.buffer]);
    return b64(msg.mask);
  },
  // Times decodes of one prompt through the worker (prepare cached): per-prompt latency.
  async timeDecode(prompt, runs = 30, warmup = 3) {
    const times = [];
    for (let i = 0; i < warmup + runs; i++) {
      const t0 = performance.now();
      await this.decode(prompt);
      if (i >= warmup) times.push(performance.now() - t0);
    }
    return times;
  },
  async bench(url, feeds, runs = 20, warmup = 3, image = undefined) {
    const decoded = {};
    for (const [name, t] of Object.entries(feeds)) decoded[name] = { data: Float32Array.from(t.data), dims: t.dims };
    const msg = await call("bench", { type: "bench", url: new URL(url, location.href).href, feeds: decoded, runs, warmup, image });
    return msg.times;
  },
};
document.getElementById("status").textContent = "ready";
