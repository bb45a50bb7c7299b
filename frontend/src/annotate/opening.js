// Starting the decoder and opening an image in place: its file, annotations, edit lock and
// embedding, with each waiting state shown. Other parts hook in per image: onSwitch(fn) runs as
// the previous image is left (drop what belonged to it), onOpened(fn) once the new one is loaded
// and its embedding is in the worker, or has failed to get there.
import { api } from "../ui/api.js";
import { EmbeddingLoader, startDecoder } from "../ui/image_loader.js";
import { EditLock, loadImageElement } from "../ui/loading.js";
import { routes } from "../ui/routes.js";
import { CAN_ANNOTATE } from "../ui/workflow.js";
import { $ } from "./dom.js";

export function createOpening({ state, root, decoder, store, undo, view, drawing, workflow, notices }) {
  const switching = []; // (id) => void
  const opened = []; // (id) => void
  let lock = null; // EditLock of the open image
  const embeddingState = (text) => ($("embedding-state").textContent = text);
  const embeddings = new EmbeddingLoader({ decoder, notices, onState: embeddingState });

  async function loadDecoder(project) {
    // ?threads=N overrides the worker's WASM thread count (diagnostics and the benchmark).
    const threads = Number(new URLSearchParams(location.search).get("threads")) || undefined;
    const loaded = await startDecoder({ decoder, notices, project, numThreads: threads });
    state.modelKey = loaded.manifest?.embedding?.model_key ?? null;
    state.family = loaded.family === "sam2" ? "sam2" : "sam1";
    $("engine").textContent = `decoder: ${loaded.executionProviders.join("+")}, ${loaded.numThreads} thread(s)${loaded.crossOriginIsolated ? "" : " (not isolated)"}`;
    return loaded;
  }

  // Without a decoder the page still edits, reviews and deletes: say so and carry on.
  function startDecoding(project) {
    return loadDecoder(project).catch((err) => {
      notices.show("decoder", `The decoder could not start: ${err.message}. You can still edit, review and delete annotations.`, {
        actions: [{ label: "Reload page", run: () => location.reload() }],
      });
      throw err;
    });
  }

  async function open(id, { push = false } = {}) {
    state.ready = false;
    lock?.release();
    if (state.imageId && state.imageId !== id) decoder.forget(state.imageId);
    // Undo belongs to the image it was done on; switching images starts a fresh history.
    undo.discard(() => true);
    Object.assign(state, { imageId: id, selectedId: null, drag: null });
    for (const fn of switching) fn(id);
    if (push) history.pushState({ id }, "", routes.annotatePage(id));
    embeddingState("loading…");
    const image = await api(routes.image(id));
    state.image = image;
    $("image-name").textContent = image.original_name;
    document.title = `${image.original_name} · SAM Annotator`;
    const [img] = await Promise.all([loadImageElement(image.file_url ?? routes.imageFile(id)), store.load(id)]);
    state.imageEl = img;
    view.fit(image.width, image.height);
    drawing.redraw();
    await takeLock();
    await workflow.refresh();
    try {
      await embeddings.embed(image);
      state.ready = true;
      notices.clear("embedding-error");
    } catch (err) {
      embeddingState("no embedding");
      const mismatch = /another model/.test(err.message);
      notices.show("embedding-error", mismatch
        ? `The decoder files do not match this image's embedding (${err.message}). Reload the page to fetch the current decoder.`
        : `No embedding for this image yet: ${err.message}`, {
        actions: [{ label: "Try again", run: () => open(id) }],
      });
    }
    root.dataset.ready = String(state.ready);
    for (const fn of opened) fn(id);
  }

  async function takeLock() {
    lock = new EditLock(state.imageId, {
      onLost: (err) => {
        state.readOnly = true;
        showLock(`lock lost: ${err.message}`);
      },
    });
    state.readOnly = !CAN_ANNOTATE.has(state.role);
    if (state.readOnly) return showLock("read-only (your role)");
    const got = await lock.acquire();
    state.readOnly = !got.held;
    showLock(got.held ? null : got.detail);
  }

  function showLock(raw) {
    // The server's message carries an ISO timestamp; people read a local time.
    const text = raw?.replace(/until (\d{4}-\d\d-\d\d[ T][\d:.]+(?:[+-]\d\d:\d\d|Z)?)/, (_, iso) => {
      const t = new Date(iso.replace(" ", "T"));
      return Number.isNaN(t.getTime()) ? `until ${iso}` : `until ${t.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}`;
    });
    const el = $("lock-state");
    el.hidden = !text;
    const who = text?.match(/edited by (\S+)/)?.[1];
    el.textContent = text ? (who ? `Locked by ${who}` : "Read-only") : "";
    el.title = text ?? "";
    el.classList.toggle("locked", Boolean(text));
    root.dataset.locked = String(Boolean(text));
    if (text) notices.show("lock", `Read-only: ${text}`, { level: "info" });
    else notices.clear("lock");
  }

  return {
    open, startDecoding,
    prefetch: (id) => embeddings.prefetch(id),
    release: () => lock?.release(),
    onSwitch: (fn) => switching.push(fn),
    onOpened: (fn) => opened.push(fn),
  };
}
