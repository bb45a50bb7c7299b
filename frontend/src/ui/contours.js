// Binary mask -> polygons with holes, in the server's convention (annotator/geometry.py): vertices
// are pixel corners, a ring runs along the outside edges of the pixels it covers, foreground is
// 8-connected and holes 4-connected (what OpenCV's RETR_CCOMP gives), so a polygon traced here
// with tolerance 0 rasterises back to exactly the same pixels on the server.
//
// Every boundary edge is oriented with the foreground on its right (y points down), so outer rings
// come out clockwise on screen (positive shoelace area) and holes counter-clockwise.

// Directions: 0 = east, 1 = south, 2 = west, 3 = north.
const DX = [1, 0, -1, 0];
const DY = [0, 1, 0, -1];

function bounds(mask, width, height) {
  let x0 = width;
  let y0 = height;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      if (mask[row + x]) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        y1 = y;
      }
    }
  }
  return x1 < 0 ? null : { x0, y0, w: x1 - x0 + 1, h: y1 - y0 + 1 };
}

// Crop with a one-pixel empty border so that neighbour lookups never leave the array.
function crop(mask, width, box) {
  const w = box.w + 2;
  const h = box.h + 2;
  const out = new Uint8Array(w * h);
  for (let y = 0; y < box.h; y++) {
    const src = (box.y0 + y) * width + box.x0;
    const dst = (y + 1) * w + 1;
    for (let x = 0; x < box.w; x++) out[dst + x] = mask[src + x] ? 1 : 0;
  }
  return { m: out, w, h };
}

// 8-connected component id per foreground pixel: a hole belongs to the part it is cut out of.
function components(m, w, h) {
  const label = new Int32Array(w * h);
  const stack = new Int32Array(w * h);
  let next = 0;
  for (let start = 0; start < m.length; start++) {
    if (!m[start] || label[start]) continue;
    next += 1;
    let top = 0;
    stack[top++] = start;
    label[start] = next;
    while (top) {
      const p = stack[--top];
      const px = p % w;
      const py = (p - px) / w;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const q = (py + dy) * w + px + dx;
          if (m[q] && !label[q]) {
            label[q] = next;
            stack[top++] = q;
          }
        }
      }
    }
  }
  return label;
}

// Outgoing boundary edges per grid vertex ((w + 1) * (h + 1) vertices); a vertex has two only at
// a saddle (two diagonal foreground pixels), kept in `second`.
function boundaryEdges(m, w, h) {
  const vw = w + 1;
  const first = new Int8Array(vw * (h + 1)).fill(-1);
  const second = new Int8Array(vw * (h + 1)).fill(-1);
  const starts = [];
  const add = (x, y, d, pixel) => {
    const v = y * vw + x;
    if (first[v] < 0) first[v] = d;
    else second[v] = d;
    starts.push(v, d, pixel);
  };
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      const p = y * w + x;
      if (!m[p]) continue;
      if (!m[p - w]) add(x, y, 0, p);
      if (!m[p + 1]) add(x + 1, y, 1, p);
      if (!m[p + w]) add(x + 1, y + 1, 2, p);
      if (!m[p - 1]) add(x, y + 1, 3, p);
    }
  }
  return { first, second, starts, vw };
}

// Follow edges from (v, d) until the ring closes, consuming them; only corners are emitted.
function traceRing(edges, v, d) {
  const { first, second, vw } = edges;
  const ring = [];
  const startV = v;
  let dir = d;
  let prev = -1;
  for (;;) {
    // Consume the edge leaving v in direction dir.
    if (first[v] === dir) {
      first[v] = second[v];
      second[v] = -1;
    } else if (second[v] === dir) second[v] = -1;
    if (dir !== prev) ring.push([v % vw, Math.floor(v / vw)]);
    prev = dir;
    v += DY[dir] * vw + DX[dir];
    if (v === startV) break;
    if (second[v] >= 0) {
      // A saddle: turning left joins the two diagonal pixels into one part (8-connectivity).
      const left = (dir + 3) % 4;
      dir = first[v] === left || second[v] === left ? left : first[v];
    } else {
      dir = first[v];
    }
    if (dir < 0) throw new Error("contour tracing lost its edge (malformed mask)");
  }
  // The first vertex is a corner only if the ring turns there.
  if (ring.length > 1 && prev === d) ring.shift();
  return ring;
}

export function ringArea(ring) {
  let s = 0;
  for (let i = 0, n = ring.length; i < n; i++) {
    const [x0, y0] = ring[i];
    const [x1, y1] = ring[(i + 1) % n];
    s += x0 * y1 - x1 * y0;
  }
  return s / 2;
}

function segmentDistance(p, a, b) {
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  const len2 = dx * dx + dy * dy;
  let t = len2 ? ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2 : 0;
  t = Math.max(0, Math.min(1, t));
  return Math.hypot(p[0] - a[0] - t * dx, p[1] - a[1] - t * dy);
}

function simplifyOpen(points, tolerance, keep, lo, hi) {
  let worst = -1;
  let index = -1;
  for (let i = lo + 1; i < hi; i++) {
    const d = segmentDistance(points[i], points[lo], points[hi]);
    if (d > worst) {
      worst = d;
      index = i;
    }
  }
  if (index >= 0 && worst > tolerance) {
    keep[index] = 1;
    simplifyOpen(points, tolerance, keep, lo, index);
    simplifyOpen(points, tolerance, keep, index, hi);
  }
}

// Douglas-Peucker on a closed ring: split at the vertex farthest from the first, simplify both
// halves, as cv2.approxPolyDP does for closed curves. Tolerance 0 keeps every corner.
export function simplifyRing(ring, tolerance) {
  if (tolerance <= 0 || ring.length <= 4) return ring;
  let far = 0;
  let best = -1;
  for (let i = 1; i < ring.length; i++) {
    const d = Math.hypot(ring[i][0] - ring[0][0], ring[i][1] - ring[0][1]);
    if (d > best) {
      best = d;
      far = i;
    }
  }
  const closed = [...ring, ring[0]];
  const keep = new Uint8Array(closed.length);
  keep[0] = keep[far] = keep[closed.length - 1] = 1;
  simplifyOpen(closed, tolerance, keep, 0, far);
  simplifyOpen(closed, tolerance, keep, far, closed.length - 1);
  const out = [];
  for (let i = 0; i < ring.length; i++) if (keep[i]) out.push(ring[i]);
  return out;
}

function orientation(a, b, c) {
  const v = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]);
  return v > 0 ? 1 : v < 0 ? -1 : 0;
}

// Whether two edges of a closed ring cross, as annotator/geometry.find_self_crossing decides (the
// server refuses such a ring): touching at a vertex is not crossing. Edges sorted by their left
// end, each compared with the ones that start before it ends.
export function ringCrosses(ring) {
  const n = ring.length;
  if (n < 4) return false;
  const edges = [];
  for (let i = 0; i < n; i++) {
    const a = ring[i];
    const b = ring[(i + 1) % n];
    edges.push({
      a,
      b,
      x0: Math.min(a[0], b[0]),
      x1: Math.max(a[0], b[0]),
      y0: Math.min(a[1], b[1]),
      y1: Math.max(a[1], b[1]),
    });
  }
  edges.sort((p, q) => p.x0 - q.x0);
  for (let i = 0; i < n; i++) {
    const e = edges[i];
    for (let j = i + 1; j < n && edges[j].x0 <= e.x1; j++) {
      const f = edges[j];
      if (f.y0 > e.y1 || e.y0 > f.y1) continue;
      if (
        orientation(e.a, e.b, f.a) * orientation(e.a, e.b, f.b) < 0 &&
        orientation(f.a, f.b, e.a) * orientation(f.a, f.b, e.b) < 0
      ) {
        return true;
      }
    }
  }
  return false;
}

// Douglas-Peucker can fold a thin part of a ring over itself; the tolerance is halved until the
// ring does not cross, down to the exact pixel staircase, which never does.
function simplifyWithoutCrossing(ring, tolerance) {
  for (let t = tolerance; t >= 0.1; t /= 2) {
    const simplified = simplifyRing(ring, t);
    if (!ringCrosses(simplified)) return simplified;
  }
  return ring;
}

/**
 * Trace a binary mask into polygons with holes.
 *
 * mask: Uint8Array(height * width), row-major, nonzero = foreground.
 * tolerance: Douglas-Peucker tolerance in pixels (0 = exact pixel staircase); lowered for a ring
 *   that would otherwise cross itself.
 * minArea: rings (outer or hole) with a smaller polygon area are dropped.
 * Returns [{outer: [[x, y], ...], holes: [[[x, y], ...], ...]}, ...] in pixel-corner coordinates.
 */
export function maskToPolygons(mask, width, height, { tolerance = 1, minArea = 0 } = {}) {
  const box = bounds(mask, width, height);
  if (!box) return [];
  const { m, w, h } = crop(mask, width, box);
  const label = components(m, w, h);
  const edges = boundaryEdges(m, w, h);
  const parts = new Map();
  const holes = [];
  const { starts, first, second } = edges;
  // Crop offset, minus the one-pixel border.
  const ox = box.x0 - 1;
  const oy = box.y0 - 1;
  for (let i = 0; i < starts.length; i += 3) {
    const v = starts[i];
    const d = starts[i + 1];
    if (first[v] !== d && second[v] !== d) continue; // already part of a traced ring
    const raw = traceRing(edges, v, d);
    const area = ringArea(raw);
    const comp = label[starts[i + 2]];
    const ring = simplifyWithoutCrossing(raw, tolerance).map(([x, y]) => [x + ox, y + oy]);
    if (ring.length < 3 || Math.abs(ringArea(ring)) < Math.max(minArea, 1e-9)) continue;
    if (area > 0) parts.set(comp, { outer: ring, holes: [] });
    else holes.push([comp, ring]);
  }
  for (const [comp, ring] of holes) parts.get(comp)?.holes.push(ring);
  return [...parts.values()];
}

export function vertexCount(polygons) {
  let n = 0;
  for (const p of polygons) {
    n += p.outer.length;
    for (const h of p.holes) n += h.length;
  }
  return n;
}
