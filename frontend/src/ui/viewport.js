// Screen <-> image coordinates for a zoomable, pannable image: screen = image * scale + offset.
// Every canvas layer draws through the same transform, so prompts, masks and polygons line up.
export class Viewport {
  constructor() {
    this.scale = 1;
    this.x = 0;
    this.y = 0;
    this.width = 1;
    this.height = 1;
    this.imageW = 1;
    this.imageH = 1;
  }

  resize(width, height) {
    this.width = width;
    this.height = height;
  }

  // Whole image visible and centred.
  fit(imageW, imageH) {
    this.imageW = imageW;
    this.imageH = imageH;
    this.scale = Math.min(this.width / imageW, this.height / imageH) * 0.98;
    this.x = (this.width - imageW * this.scale) / 2;
    this.y = (this.height - imageH * this.scale) / 2;
  }

  toImage(sx, sy) {
    return [(sx - this.x) / this.scale, (sy - this.y) / this.scale];
  }

  toScreen(ix, iy) {
    return [ix * this.scale + this.x, iy * this.scale + this.y];
  }

  // Zoom by `factor` keeping the image point under (sx, sy) fixed.
  zoomAt(sx, sy, factor) {
    const next = Math.min(64, Math.max(0.05, this.scale * factor));
    const [ix, iy] = this.toImage(sx, sy);
    this.scale = next;
    this.x = sx - ix * next;
    this.y = sy - iy * next;
  }

  pan(dx, dy) {
    this.x += dx;
    this.y += dy;
  }

  contains(ix, iy) {
    return ix >= 0 && iy >= 0 && ix < this.imageW && iy < this.imageH;
  }

  apply(ctx, dpr = 1) {
    ctx.setTransform(this.scale * dpr, 0, 0, this.scale * dpr, this.x * dpr, this.y * dpr);
  }
}
