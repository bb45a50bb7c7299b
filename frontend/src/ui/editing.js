// Vertex editing of polygons with holes, as pure functions over deep copies, so that an edit can
// be undone by saving the previous polygons back.

// Every vertex as {p, r, i, x, y}: polygon p, ring r (0 = outer, 1.. = holes), index i.
export function vertices(polygons) {
  const out = [];
  polygons.forEach((poly, p) => {
    [poly.outer, ...poly.holes].forEach((ring, r) => ring.forEach(([x, y], i) => out.push({ p, r, i, x, y })));
  });
  return out;
}

// The vertex nearest to (x, y) within `radius` (image pixels), or -1.
export function hitVertex(list, x, y, radius) {
  let best = -1;
  let bestD = radius;
  list.forEach((v, k) => {
    const d = Math.hypot(v.x - x, v.y - y);
    if (d <= bestD) {
      best = k;
      bestD = d;
    }
  });
  return best;
}

function ringOf(polygons, v) {
  const poly = polygons[v.p];
  return v.r === 0 ? poly.outer : poly.holes[v.r - 1];
}

export function clonePolygons(polygons) {
  return polygons.map((p) => ({ outer: p.outer.map((q) => [...q]), holes: p.holes.map((h) => h.map((q) => [...q])) }));
}

export function moveVertex(polygons, v, x, y) {
  const out = clonePolygons(polygons);
  ringOf(out, v)[v.i] = [x, y];
  return out;
}

// Removes a vertex; a ring left with fewer than 3 vertices goes too (a hole closes, an outer ring
// takes its polygon with it). Returns null when nothing of the annotation would be left.
export function deleteVertex(polygons, v) {
  const out = clonePolygons(polygons);
  const ring = ringOf(out, v);
  ring.splice(v.i, 1);
  if (ring.length >= 3) return out;
  if (v.r > 0) out[v.p].holes.splice(v.r - 1, 1);
  else out.splice(v.p, 1);
  return out.length ? out : null;
}

// Clamps a point into the image (vertices are pixel corners, so W and H themselves are valid).
export function clampToImage(x, y, w, h) {
  return [Math.min(w, Math.max(0, x)), Math.min(h, Math.max(0, y))];
}

// The edge of any ring nearest to (x, y) within `radius` (image pixels), as {p, r, i, x, y}: the
// edge runs from vertex i to vertex i + 1 (wrapping), and (x, y) is the nearest point on it. Null
// when no edge is that close.
export function hitEdge(polygons, x, y, radius) {
  let best = null;
  let bestD = radius;
  polygons.forEach((poly, p) => {
    [poly.outer, ...poly.holes].forEach((ring, r) => {
      ring.forEach(([ax, ay], i) => {
        const [bx, by] = ring[(i + 1) % ring.length];
        const len2 = (bx - ax) ** 2 + (by - ay) ** 2;
        const t = len2 ? Math.max(0, Math.min(1, ((x - ax) * (bx - ax) + (y - ay) * (by - ay)) / len2)) : 0;
        const [qx, qy] = [ax + t * (bx - ax), ay + t * (by - ay)];
        const d = Math.hypot(qx - x, qy - y);
        if (d <= bestD) {
          best = { p, r, i, x: qx, y: qy };
          bestD = d;
        }
      });
    });
  });
  return best;
}

// Inserts (x, y) after vertex edge.i of the edge's ring. Returns the new polygons and the new
// vertex, as vertices() lists it, so it can be dragged at once.
export function insertVertex(polygons, edge, x, y) {
  const out = clonePolygons(polygons);
  ringOf(out, edge).splice(edge.i + 1, 0, [x, y]);
  return { polygons: out, vertex: { p: edge.p, r: edge.r, i: edge.i + 1, x, y } };
}

// The index of v in vertices(polygons), or -1.
export function vertexIndex(polygons, v) {
  return vertices(polygons).findIndex((w) => w.p === v.p && w.r === v.r && w.i === v.i);
}

// Every vertex shifted by (dx, dy), the shift first cut short so that the shape stays inside the
// w x h image: a shape dragged against the border stops there instead of losing its form.
export function translatePolygons(polygons, dx, dy, w, h) {
  const all = vertices(polygons);
  if (!all.length) return clonePolygons(polygons);
  const xs = all.map((v) => v.x);
  const ys = all.map((v) => v.y);
  const sx = Math.max(-Math.min(...xs), Math.min(w - Math.max(...xs), dx));
  const sy = Math.max(-Math.min(...ys), Math.min(h - Math.max(...ys), dy));
  return polygons.map((poly) => ({
    outer: poly.outer.map(([x, y]) => [x + sx, y + sy]),
    holes: poly.holes.map((ring) => ring.map(([x, y]) => [x + sx, y + sy])),
  }));
}
