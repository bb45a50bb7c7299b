// The page's side of the decoder Web Worker (frontend/src/decoder/worker.js): promises per
// request, latest-wins hover decoding, and one "down" callback when the worker dies so the page
// can say so instead of silently not drawing masks.

export class DecoderClient {
  constructor(workerUrl, { onDown } = {}) {
    this.worker = new Worker(workerUrl, { type: "module" });
    this.pending = new Map();
    this.seq = 0;
    this.decodes = 0; // decode requests sent, hover included (the page tests count them)
    this.onDown = onDown;
    this.worker.onmessage = (e) => this.receive(e.data);
    // An uncaught error in the worker fails whatever was waiting; the worker itself may live on,
    // so later requests are still tried.
    this.worker.onerror = (e) => {
      e.preventDefault?.();
      this.fail(new Error(e.message || "the decoder worker crashed"));
    };
  }

  receive(msg) {
    let key = msg.type === "loaded" ? "load" : msg.type;
    if (msg.type === "decoded" || msg.type === "dropped") key = `decode:${msg.seq}`;
    else if (msg.type === "fullmask") key = `fullmask:${msg.seq}`;
    else if (msg.type === "error") {
      if (msg.request === "decode" || msg.request === "fullmask") key = `${msg.request}:${msg.seq}`;
      else if (msg.request === "embed") key = `embed:${msg.id}`;
      else key = msg.request;
    } else if (msg.type === "embedded") key = `embed:${msg.id}`;
    const entry = this.pending.get(key);
    if (!entry) return;
    this.pending.delete(key);
    if (msg.type === "error") entry.reject(new Error(msg.message));
    else entry.resolve(msg);
  }

  fail(err) {
    for (const entry of this.pending.values()) entry.reject(err);
    this.pending.clear();
    this.onDown?.(err);
  }

  call(key, message, transfer = []) {
    return new Promise((resolve, reject) => {
      this.pending.set(key, { resolve, reject });
      this.worker.postMessage(message, transfer);
    });
  }

  load(manifestUrl, options = {}) {
    return this.call("load", { type: "load", manifestUrl: new URL(manifestUrl, location.href).href, ...options });
  }

  // The buffer is transferred: the caller must not use it afterwards.
  embed(id, buffer, origSize) {
    return this.call(`embed:${id}`, { type: "embed", id, buffer, origSize }, [buffer]);
  }

  // Resolves {type: "decoded", ...} or {type: "dropped"} when a newer decode replaced this one in
  // the worker's queue. The caller compares `seq` to drop results that arrive after newer ones.
  decode(id, prompt) {
    const seq = ++this.seq;
    this.decodes += 1;
    const msg = { type: "decode", id, seq, ...prompt };
    return this.call(`decode:${seq}`, msg);
  }

  // Full-resolution mask of a low-res result; lowRes is copied since the worker takes ownership.
  fullmask(id, lowRes, origSize) {
    const seq = ++this.seq;
    const copy = Float32Array.from(lowRes);
    return this.call(`fullmask:${seq}`, { type: "fullmask", id, seq, lowRes: copy, origSize }, [copy.buffer]);
  }

  forget(id) {
    this.worker.postMessage({ type: "forget", id });
  }
}
