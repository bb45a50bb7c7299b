// What the page waits for before the first hover: the decoder's manifest (202 while the server
// is still exporting it), the image itself, and the edit lock.
import { api, ApiError } from "./api.js";
import { routes } from "./routes.js";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls the manifest until the export is done; onWait(detail) while it is pending.
export async function waitForManifest(url, { onWait = () => {}, maxWaitMs = 600000 } = {}) {
  const start = performance.now();
  for (;;) {
    const res = await fetch(url, { credentials: "same-origin" });
    if (res.status === 202) {
      onWait();
      if (performance.now() - start > maxWaitMs) throw new ApiError(202, "the decoder is still being exported");
      await sleep(Math.min(10, Number(res.headers.get("Retry-After")) || 2) * 1000);
      continue;
    }
    let body = null;
    try {
      body = await res.json();
    } catch {
      // Reported below with the status.
    }
    if (!res.ok) throw new ApiError(res.status, body?.detail ?? `decoder manifest: HTTP ${res.status}`);
    return body;
  }
}

export function loadImageElement(url) {
  const img = new Image();
  img.decoding = "async";
  img.src = url;
  return img.decode().then(
    () => img,
    () => {
      throw new Error(`the image file could not be loaded (${url})`);
    },
  );
}

// The edit lock: taken on open, renewed while the page is open, released on leaving. A lock held
// by someone else (423) makes the page read-only and names who holds it.
export class EditLock {
  constructor(imageId, { renewMs = 60000, onLost } = {}) {
    this.imageId = imageId;
    this.renewMs = renewMs;
    this.onLost = onLost;
    this.timer = null;
    this.held = false;
  }

  async acquire() {
    try {
      await api(routes.lock(this.imageId), { method: "POST" });
    } catch (err) {
      if (err instanceof ApiError && (err.status === 423 || err.status === 409)) return { held: false, detail: err.message };
      if (err instanceof ApiError && err.status === 403) return { held: false, detail: err.message, readOnlyRole: true };
      throw err;
    }
    this.held = true;
    clearInterval(this.timer);
    this.timer = setInterval(() => this.renew(), this.renewMs);
    return { held: true };
  }

  async renew() {
    try {
      await api(routes.lock(this.imageId), { method: "POST" });
    } catch (err) {
      this.held = false;
      clearInterval(this.timer);
      this.onLost?.(err);
    }
  }

  // keepalive lets the DELETE finish while the page unloads.
  release() {
    clearInterval(this.timer);
    if (!this.held) return;
    this.held = false;
    const token = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/)?.[1] ?? "";
    fetch(routes.lock(this.imageId), {
      method: "DELETE",
      keepalive: true,
      credentials: "same-origin",
      headers: { "X-CSRFToken": decodeURIComponent(token) },
    }).catch(() => {});
  }
}
