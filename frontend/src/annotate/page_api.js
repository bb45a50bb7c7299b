// window.annotator: the page as tests (tests/browser/) and the benchmark (bench/page_latency.py,
// pages/bench_reference.js) drive it; nothing else of the page's state is reachable from outside.
import * as P from "../ui/prompts.js";
import { $ } from "./dom.js";

export function pageApi({ ready, state, store, undo, view, stage, drawing, prompting, saving }) {
  const hover = prompting.hover;
  return {
    ready,
    state: () => ({
      imageId: state.imageId, ready: state.ready, readOnly: state.readOnly, mode: state.mode, prompts: P.promptsRecord(state.prompts),
      hasResult: Boolean(state.prompts.result || state.hover?.reply), annotations: store.list.map((a) => a.id),
      canUndo: undo.canUndo, tolerance: state.tolerance, status: state.image?.status, decodeMs: state.prompts.result?.ms ?? null,
      chosen: state.prompts.result?.chosen ?? null,
    }),
    latencies: () => ({ paint: [...hover.latencies], decode: [...hover.decodeMs], overhead: [...hover.overheadMs], dropped: hover.dropped }),
    // The benchmark swaps the hover decoder for Meta's reference one (pages/bench_reference.js).
    setHoverEngine: ({ decode, paint }) => {
      hover.decode = decode;
      hover.paint = paint;
    },
    paintMask: (imageData) => drawing.drawMaskData(imageData),
    imageSize: () => [state.image.height, state.image.width],
    resetLatencies: () => hover.reset(),
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
