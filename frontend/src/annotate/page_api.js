// window.annotator: the page as tests (tests/browser/) and the benchmark (bench/page_latency.py,
// pages/bench_reference.js) drive it; nothing else of the page's state is reachable from outside.
import * as P from "../ui/prompts.js";
import { $ } from "./dom.js";

export function pageApi({ ready, state, store, undo, view, stage, decoder, drawing, prompting, saving, atlasHover }) {
  const hover = prompting.hover;
  return {
    ready,
    state: () => ({
      imageId: state.imageId, ready: state.ready, readOnly: state.readOnly, mode: state.mode, prompts: P.promptsRecord(state.prompts),
      hasResult: Boolean(state.prompts.result || state.hover?.reply), annotations: store.list.map((a) => a.id),
      canUndo: undo.canUndo, tolerance: state.tolerance, status: state.image?.status, decodeMs: state.prompts.result?.ms ?? null,
      chosen: state.prompts.result?.chosen ?? null, scores: state.prompts.result ? Array.from(state.prompts.result.scores) : null,
      // The decode of the latest prompt change is back and traced: what Enter would save now.
      settled: P.isCurrent(state.prompts) && state.preview?.state === state.prompts,
      labelIndex: state.labelIndex, selectedId: state.selectedId, polygon: state.polygon?.map((p) => [...p]) ?? null,
    }),
    // Decode requests sent to the worker so far, hover included: Tab must not add any.
    decodeCount: () => decoder.decodes,
    // Per prompt decode: which candidate's logits went in as mask_input, and their sum.
    decodeLog: () => prompting.log.map((entry) => ({ ...entry })),
    // Sum of each candidate's low-res logits of the current result (null where it has none).
    candidateSums: () => {
      const masks = state.prompts.result?.masks;
      const n = 256 * 256;
      return masks ? [0, 1, 2, 3].map((k) => masks.subarray(k * n, (k + 1) * n).reduce((a, v) => a + v, 0)) : null;
    },
    // The current object's low-res logits, summed, and how many are positive (the mask's size).
    resultSummary: () => {
      const lowRes = state.prompts.result?.lowRes;
      return lowRes ? { sum: lowRes.reduce((a, v) => a + v, 0), positive: lowRes.filter((v) => v > 0).length } : null;
    },
    latencies: () => ({
      paint: [...hover.latencies], decode: [...hover.decodeMs], overhead: [...hover.overheadMs], dropped: hover.dropped, busyMs: hover.busyMs,
      atlasPaint: [...atlasHover.stats.latencies], atlasIou: [...atlasHover.stats.exactIou],
      moves: atlasHover.schedule.moves, covered: atlasHover.schedule.covered, exactSent: atlasHover.schedule.decodes,
      // performance.now() of the first mask shown, atlas or exact: page open -> first hover paint.
      firstPaintAt: Math.min(hover.firstPaintAt ?? Infinity, atlasHover.stats.firstPaintAt ?? Infinity),
    }),
    // The hover atlas of the open image: whether it is in use, what the fetch answered, why it
    // was refused, and what the mask layer shows now ("atlas" | "exact" | null).
    atlas: () => {
      const a = atlasHover.atlas();
      return {
        loaded: Boolean(a), status: atlasHover.stats.fetched, error: atlasHover.stats.error, shown: atlasHover.schedule.shown,
        grid: a?.grid ?? null, count: a?.count ?? 0, proposals: atlasHover.proposalIds(),
      };
    },
    // The benchmark swaps the hover decoder for Meta's reference one (pages/bench_reference.js).
    setHoverEngine: ({ decode, paint }) => {
      hover.decode = decode;
      hover.paint = paint;
    },
    paintMask: (imageData) => drawing.drawMaskData(imageData),
    imageSize: () => [state.image.height, state.image.width],
    resetLatencies: () => {
      hover.reset();
      atlasHover.stats.latencies.length = 0;
      atlasHover.stats.exactIou.length = 0;
      atlasHover.stats.firstPaintAt = null;
      Object.assign(atlasHover.schedule, { moves: 0, covered: 0, decodes: 0 });
    },
    setPromptCase: (c) => prompting.setPromptCase(c),
    accept: () => saving.accept(),
    previewPolygons: () => state.preview?.polygons ?? null,
    setTolerance: (t) => {
      $("tolerance").value = String(t);
      $("tolerance").dispatchEvent(new Event("input"));
    },
    imageToClient: (x, y) => {
      const rect = stage.getBoundingClientRect();
      const [sx, sy] = view.toScreen(x, y);
      return [rect.left + sx, rect.top + sy];
    },
  };
}
