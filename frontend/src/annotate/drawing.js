// What the three canvases of ui/render.js show, assembled from the parts that own it. The base
// layer is the image and the saved annotations; the mask layer shows one mask, from the topmost
// mask source that has one; the UI layer merges what every UI source contributes (prompts,
// the box being dragged, vertices, the brush outline), then draws the overlays on top.
import { hexToRgba, logitsToImageData } from "../ui/maskpaint.js";
import { currentLabel } from "./state.js";

export function createDrawing({ state, layers, view, store }) {
  const maskSources = []; // () => ImageData | null, or undefined for "nothing of mine"
  const uiSources = []; // () => a part of ui/render.js Layers.drawUi's arguments
  const overlays = []; // (ctx, view) => void, drawn in image coordinates over the UI layer

  const labelColour = () => currentLabel(state)?.color ?? "#3b82f6";

  function drawBase() {
    layers.drawBase({
      view, image: state.imageEl, annotations: store.list, labels: state.labels, selectedId: state.selectedId, show: state.show,
    });
  }

  function drawMaskData(imageData) {
    layers.drawMask({ view, imageData, imageW: state.image?.width ?? 1, imageH: state.image?.height ?? 1 });
  }

  // Low-res decoder logits as the current label's translucent colour.
  function logitsImage(lowRes) {
    const stretch = state.family === "sam2"; // SAM 2's low-res grid spans the whole image
    return logitsToImageData(lowRes, state.image.height, state.image.width, hexToRgba(labelColour(), 0.45), { stretch });
  }

  function drawUi() {
    const parts = {};
    for (const source of uiSources) Object.assign(parts, source());
    layers.drawUi({ view, ...parts });
    for (const overlay of overlays) overlay(layers.ctx.ui, view);
  }

  function redraw() {
    drawBase();
    let mask = null;
    for (const source of [...maskSources].reverse()) {
      const m = source();
      if (m !== undefined) {
        mask = m;
        break;
      }
    }
    drawMaskData(mask);
    drawUi();
  }

  // Keeps the canvases at the stage's size; the image is redrawn when it changes.
  function trackSize() {
    const fit = () => {
      const [w, h] = layers.resize();
      view.resize(w, h);
    };
    fit();
    new ResizeObserver(() => {
      fit();
      if (state.image) redraw();
    }).observe(layers.container);
  }

  return {
    labelColour, drawBase, drawMaskData, logitsImage, drawUi, redraw, trackSize,
    // A source added later lies on top: its mask wins over those added before it.
    addMaskSource: (source) => maskSources.push(source),
    addUiSource: (source) => uiSources.push(source),
    addOverlay: (overlay) => overlays.push(overlay),
  };
}
