// The hover atlas on the page: each image's atlas (decoder/atlas.js, computed by the worker with
// the embedding) is fetched as the image opens, alongside the embedding (tens of KB against the
// embedding's MB, so the first hover paint does not wait for the embedding). While it is there a
// mouse move paints the atlas mask of the cell under the cursor in the next frame, and
// ui/hover_schedule.js decides when the exact decode is worth sending; the exact mask replaces the
// atlas's when it arrives. Clicks, boxes, refinement and saving never read the atlas: they go
// through prompting.js's exact decodes only.
//
// A: the atlas's unique masks drawn at once as everything-mode proposals; a click on one is an
// ordinary SAM click, so what gets saved is the exact decode of that point.
import { AtlasError, parseAtlas } from "../decoder/atlas.js";
import { hexToRgba } from "../ui/maskpaint.js";
import { HoverSchedule } from "../ui/hover_schedule.js";
import { routes } from "../ui/routes.js";
import * as P from "../ui/prompts.js";

export function createAtlasHover({ state, drawing, prompting, notices }) {
  const stats = { latencies: [], exactIou: [], fetched: null, error: null, firstPaintAt: null };
  let atlas = null;
  let loading = null; // image id whose atlas is being fetched
  let pending = null; // {id, t}: the atlas mask to paint in the next frame
  let shown = null; // {id, image: ImageData}
  let proposals = null; // {canvas, ids} while A shows them
  let buffer = null; // reused RGBA bytes of the painted atlas mask

  const schedule = new HoverSchedule({
    paintAtlas: (id, t) => {
      if (pending === null) requestAnimationFrame(paintPending);
      pending = { id, t };
    },
    decodeExact: (x, y, t, ticket) => {
      if (state.ready) prompting.exactHover(x, y, t, ticket);
    },
  });

  function paintPending() {
    if (!pending) return; // the image changed before the frame
    const { id, t } = pending;
    pending = null;
    if (!atlas || !P.isEmpty(state.prompts) || state.mode !== "sam" || state.drag || schedule.shown !== "atlas") return;
    const [h, w] = atlas.maskSize;
    buffer = atlas.paint(id, hexToRgba(drawing.labelColour(), 0.45), buffer);
    shown = { id, image: new ImageData(buffer, w, h) };
    drawing.drawMaskData(shown.image);
    // Timed as ui/hover.js times the exact paint: to the end of the frame that shows it.
    const record = (painted) => {
      stats.firstPaintAt ??= painted;
      if (stats.latencies.length < 2000) stats.latencies.push(painted - t);
    };
    const ch = new MessageChannel();
    ch.port1.onmessage = () => record(performance.now());
    ch.port2.postMessage(null);
  }

  prompting.routeHover({
    move: (x, y, t, fresh) => {
      if (fresh) schedule.reset();
      schedule.move(x, y, t);
    },
    mayPaint: (ticket) => schedule.mayPaintExact(ticket ?? { region: -1 }),
    painted: (ticket, reply) => {
      if (ticket && ticket.region >= 0 && shown?.id === ticket.region) stats.exactIou.push(iouWithAtlas(ticket.region, reply));
      schedule.exactPainted(ticket ?? { region: -1 });
    },
    ready: () => Boolean(atlas),
  });

  // IoU between atlas mask `id` and the exact hover's low-res logits > 0, on the atlas's grid
  // (the exact mask sampled at each stored pixel's centre): how close the first paint was.
  function iouWithAtlas(id, reply) {
    const lowRes = reply.lowRes;
    if (!lowRes || !state.image) return NaN;
    const [h, w] = atlas.maskSize;
    const { width: W, height: H } = state.image;
    const side = Math.round(Math.sqrt(lowRes.length)); // 256: SAM 1's long side fills it,
    // SAM 2's grid spans the whole image (a square stretch)
    const [sy, sx] = state.family === "sam2" ? [side / H, side / W] : [side / Math.max(W, H), side / Math.max(W, H)];
    const mask = atlas.mask(id);
    let inter = 0;
    let union = 0;
    for (let r = 0; r < h; r++) {
      const ly = Math.min(side - 1, Math.floor(((r + 0.5) * H) / h * sy));
      for (let c = 0; c < w; c++) {
        const lx = Math.min(side - 1, Math.floor(((c + 0.5) * W) / w * sx));
        const a = mask[r * w + c] === 1;
        const b = lowRes[ly * side + lx] > 0;
        if (a && b) inter++;
        if (a || b) union++;
      }
    }
    return union ? inter / union : 1;
  }

  async function load(id) {
    forget();
    loading = id;
    stats.fetched = null;
    stats.error = null;
    let res;
    try {
      res = await fetch(routes.atlas(id), { credentials: "same-origin" });
    } catch (err) {
      return void (stats.error = `atlas fetch failed: ${err.message}`);
    }
    stats.fetched = res.status;
    // 404 (none yet, or an image from before atlases) and 202 (computing): hover as before.
    if (res.status !== 200 || loading !== id) return;
    // The decoder's checkpoint (the project's model), not the server's say-so about the atlas.
    const sha = state.project?.sam_model?.sha256 || res.headers.get("X-Model-Sha256") || "";
    const modelKey = sha ? sha.slice(0, 32) : null;
    try {
      const parsed = await parseAtlas(await res.arrayBuffer(), { modelKey });
      if (loading !== id || state.imageId !== id) return;
      atlas = parsed;
      schedule.setAtlas(atlas);
    } catch (err) {
      if (!(err instanceof AtlasError)) throw err;
      // A corrupt or foreign atlas is never painted; the exact decodes carry the hover alone.
      stats.error = err.message;
      console.warn(`Hover atlas of image ${id} ignored: ${err.message}`);
    }
  }

  function forget() {
    atlas = null;
    loading = null;
    shown = null;
    pending = null;
    proposals = null;
    schedule.setAtlas(null);
  }

  // A: the atlas's masks, ranked (predicted IoU, then stability, overlaps dropped), each in its
  // own colour on one canvas the UI layer scales over the image.
  function toggleProposals() {
    if (proposals) {
      proposals = null;
      return drawing.drawUi();
    }
    if (!atlas) return notices.show("atlas", "No hover atlas for this image yet: use “Propose all masks”.", { level: "info" });
    const ids = atlas.proposals({ maxOverlap: 0.7 });
    const [h, w] = atlas.maskSize;
    const rgba = new Uint8ClampedArray(h * w * 4);
    const px = new Uint32Array(rgba.buffer);
    // Worst first, so the best-ranked mask lies on top where they overlap.
    for (const [rank, id] of [...ids.entries()].reverse()) {
      const hue = (rank * 137.508) % 360;
      const [r, g, b] = hslToRgb(hue, 0.75, 0.55);
      const colour = ((140 << 24) | (b << 16) | (g << 8) | r) >>> 0;
      const mask = atlas.mask(id);
      for (let i = 0; i < mask.length; i++) if (mask[i]) px[i] = colour;
    }
    const canvas = new OffscreenCanvas(w, h);
    canvas.getContext("2d").putImageData(new ImageData(rgba, w, h), 0, 0);
    proposals = { canvas, ids };
    notices.show("atlas", `${ids.length} instant proposals from the hover atlas: click one to segment it exactly, A hides them.`, { level: "info" });
    drawing.drawUi();
  }

  return {
    schedule, stats, load, forget,
    atlas: () => atlas,
    // On top of prompting's mask while the atlas's is the one showing for the hover.
    mask: () => (atlas && shown && schedule.shown === "atlas" && P.isEmpty(state.prompts) && state.hover ? shown.image : undefined),
    overlay: (ctx) => {
      if (!proposals || !state.image) return;
      ctx.save();
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(proposals.canvas, 0, 0, state.image.width, state.image.height);
      ctx.restore();
    },
    proposalIds: () => proposals?.ids ?? null,
    actions: { atlasProposals: () => toggleProposals() },
  };
}

function hslToRgb(h, s, l) {
  const k = (n) => (n + h / 30) % 12;
  const a = s * Math.min(l, 1 - l);
  const f = (n) => Math.round(255 * (l - a * Math.max(-1, Math.min(k(n) - 3, Math.min(9 - k(n), 1)))));
  return [f(0), f(8), f(4)];
}
