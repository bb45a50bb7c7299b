// Three stacked canvases over the image: `base` (image and saved annotations, redrawn when they
// change), `mask` (the decoder's mask, redrawn on every hover result and nothing else, so hover
// paints one drawImage) and `ui` (prompts, box being dragged, polygon preview, brush cursor).
import { hexToRgba } from "./maskpaint.js";

function ringPath(path, ring) {
  ring.forEach(([x, y], i) => (i ? path.lineTo(x, y) : path.moveTo(x, y)));
  path.closePath();
}

export function polygonsPath(polygons) {
  const path = new Path2D();
  for (const p of polygons) {
    ringPath(path, p.outer);
    for (const hole of p.holes) ringPath(path, hole);
  }
  return path;
}

export class Layers {
  constructor(container) {
    this.container = container;
    this.canvases = {};
    for (const name of ["base", "mask", "ui"]) {
      const c = document.createElement("canvas");
      c.className = `layer layer-${name}`;
      c.dataset.layer = name;
      container.appendChild(c);
      this.canvases[name] = c;
    }
    this.ctx = Object.fromEntries(Object.entries(this.canvases).map(([k, c]) => [k, c.getContext("2d")]));
    this.maskSource = null; // canvas holding the current mask pixels at overlay resolution
    this.dpr = window.devicePixelRatio || 1;
  }

  resize() {
    const rect = this.container.getBoundingClientRect();
    this.dpr = window.devicePixelRatio || 1;
    for (const c of Object.values(this.canvases)) {
      c.width = Math.max(1, Math.round(rect.width * this.dpr));
      c.height = Math.max(1, Math.round(rect.height * this.dpr));
    }
    return [rect.width, rect.height];
  }

  clear(name) {
    const ctx = this.ctx[name];
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, ctx.canvas.width, ctx.canvas.height);
    return ctx;
  }

  drawBase({ view, image, annotations, labels, selectedId, show }) {
    const ctx = this.clear("base");
    if (!image) return;
    view.apply(ctx, this.dpr);
    // Pixels stay sharp when zoomed in: annotators check edges pixel by pixel.
    ctx.imageSmoothingEnabled = view.scale < 2;
    ctx.drawImage(image, 0, 0);
    if (!show) return;
    const width = 1.5 / view.scale;
    for (const a of annotations) {
      const colour = labels.get(a.label)?.color ?? "#ff0000";
      const path = polygonsPath(a.polygons);
      const [r, g, b] = hexToRgba(colour, 1);
      ctx.fillStyle = `rgba(${r},${g},${b},${a.id === selectedId ? 0.5 : 0.3})`;
      ctx.fill(path, "evenodd");
      ctx.strokeStyle = colour;
      ctx.lineWidth = a.id === selectedId ? 2.5 * width : width;
      ctx.stroke(path);
    }
  }

  // ImageData of the mask at overlay resolution, stretched over the image; null clears it.
  drawMask({ view, imageData, imageW, imageH }) {
    const ctx = this.clear("mask");
    if (!imageData) return;
    if (!this.maskSource || this.maskSource.width !== imageData.width || this.maskSource.height !== imageData.height) {
      this.maskSource = new OffscreenCanvas(imageData.width, imageData.height);
    }
    this.maskSource.getContext("2d").putImageData(imageData, 0, 0);
    view.apply(ctx, this.dpr);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(this.maskSource, 0, 0, imageW, imageH);
  }

  drawUi({ view, prompts, dragBox, preview, previewColour, vertices, hoverVertex, brush }) {
    const ctx = this.clear("ui");
    view.apply(ctx, this.dpr);
    const px = 1 / view.scale;
    if (preview?.length) {
      ctx.strokeStyle = previewColour ?? "#ffffff";
      ctx.lineWidth = 2 * px;
      ctx.setLineDash([6 * px, 4 * px]);
      ctx.stroke(polygonsPath(preview));
      ctx.setLineDash([]);
    }
    const box = dragBox ?? prompts?.box;
    if (box) {
      ctx.strokeStyle = "#00e5ff";
      ctx.lineWidth = 2 * px;
      ctx.strokeRect(box[0], box[1], box[2] - box[0], box[3] - box[1]);
    }
    for (const p of prompts?.points ?? []) {
      ctx.beginPath();
      ctx.arc(p.x, p.y, 5 * px, 0, 2 * Math.PI);
      ctx.fillStyle = p.label === 1 ? "#22c55e" : "#ef4444";
      ctx.fill();
      ctx.lineWidth = 1.5 * px;
      ctx.strokeStyle = "#fff";
      ctx.stroke();
    }
    for (const [i, [x, y]] of (vertices ?? []).entries()) {
      ctx.fillStyle = i === hoverVertex ? "#facc15" : "#ffffff";
      ctx.strokeStyle = "#111";
      ctx.lineWidth = px;
      const s = (i === hoverVertex ? 7 : 5) * px;
      ctx.fillRect(x - s / 2, y - s / 2, s, s);
      ctx.strokeRect(x - s / 2, y - s / 2, s, s);
    }
    if (brush) {
      ctx.beginPath();
      ctx.arc(brush.x, brush.y, brush.radius, 0, 2 * Math.PI);
      ctx.strokeStyle = brush.erase ? "#ef4444" : "#22c55e";
      ctx.lineWidth = 1.5 * px;
      ctx.stroke();
    }
  }
}
