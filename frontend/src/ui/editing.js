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
