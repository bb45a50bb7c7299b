"""One object, one YOLO-seg line: joining a mask's parts into one ring, and splitting it back.

A YOLO-seg label line is a single polygon, and Ultralytics makes one instance of each line. An
object whose mask has several parts (a car behind a pole) must still be one line, so the parts
are joined into one ring by zero-width bridges: from a vertex of what is joined so far to the
nearest vertex of the next part, once around that part, and back along the same bridge. This is
the idea of Ultralytics' own COCO converter (``merge_multi_segment``), which joins the parts of
a multi-polygon COCO object that way; ours picks the parts nearest first (Prim's order) so the
bridges stay short wherever the parts lie.

Ultralytics rasterises a line with ``cv2.fillPoly``, which fills by the even-odd rule: a bridge
walked there and back adds nothing, and a part lying inside another part would become a hole.
Holes follow Ultralytics' converter too: it keeps only the outer contours of a mask
(``RETR_EXTERNAL``), so holes are filled and a part inside a hole is dropped (it lies inside the
filled outline). ``outer_rings`` gives exactly those rings.

Reading a line back undoes the join: a vertex met a second time closes a loop (a part, or a
bridge, which encloses nothing and is dropped), and loops are nested by the same even-odd rule,
so a loop inside another is a hole of it, as ``cv2.fillPoly`` would draw it. A line from a tool
that joins parts this way (ours, Ultralytics' converter) comes back as one object with parts.
"""

from __future__ import annotations

import cv2
import numpy as np

from annotator.formats.dataset import DatasetAnnotation, FormatError
from annotator.geometry import MAX_POLYGONS, Polygon, mask_to_polygons

# Vertex pairs compared at once when looking for the nearest vertices of two parts (memory).
_PAIR_CHUNK = 1_000_000
# Work spent nesting the loops of one imported line (loop pairs whose boxes overlap, and edges
# tested for them); real outlines need a tiny fraction, a crafted line is refused.
MAX_NESTING_PAIRS = 100_000
MAX_NESTING_EDGES = 20_000_000


def outer_rings(
    ann: DatasetAnnotation, height: int, width: int, tolerance: float = 0.5
) -> list[np.ndarray]:
    """The outlines YOLO-seg keeps of an annotation: outer rings of its parts, holes filled.

    Arguments:
      ann: the annotation (mask, RLE or polygons).
      height, width: the image size in pixels.
      tolerance: polygon simplification in pixels (``geometry.mask_to_polygons``).

    Returns:
      One (N, 2) float64 array of ``[x, y]`` pixel corners per part, none inside another.
    """
    if ann.polygons is not None and ann.mask is None and ann.rle is None and len(ann.polygons) < 2:
        polygons = ann.polygons  # drawn: kept exactly, less its holes
    else:
        # A part inside another's hole is covered once the holes are filled, and kept it would
        # cut a hole under the even-odd fill: tracing the filled mask drops it, as Ultralytics'
        # RETR_EXTERNAL tracing does.
        polygons = mask_to_polygons(_fill_holes(ann.to_mask(height, width)), tolerance)
    return [np.asarray(p["outer"], dtype=np.float64) for p in polygons]


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    # Decoded RLE is column-major, which OpenCV refuses to draw into.
    pixels = np.ascontiguousarray(mask, dtype=np.uint8)
    contours, _ = cv2.findContours(pixels, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    filled = np.zeros(pixels.shape, dtype=np.uint8)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    return filled.astype(bool)


# --- Join ----------------------------------------------------------------------------------------


def _nearest_in(points: np.ndarray, ring: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``points``: the squared distance to the nearest vertex of ``ring``, and the
    index of that vertex."""
    dist = np.empty(len(points))
    index = np.empty(len(points), dtype=np.int64)
    step = max(1, _PAIR_CHUNK // max(1, len(ring)))
    for start in range(0, len(points), step):
        block = points[start : start + step]
        d = ((block[:, None, :] - ring[None, :, :]) ** 2).sum(-1)
        best = d.argmin(axis=1)
        dist[start : start + step] = d[np.arange(len(block)), best]
        index[start : start + step] = best
    return dist, index


def join_rings(rings: list[np.ndarray]) -> np.ndarray:
    """One ring through all ``rings``, joined by zero-width bridges (module doc).

    Arguments:
      rings: (N_i, 2) arrays, each closed implicitly (last vertex back to the first), sharing
        no vertex with another.

    Returns:
      (M, 2) array: the first ring, with every other ring spliced in after the vertex ``a``
      nearest to it as ``a, b, <the ring from b around>, b, a``; the rings' own vertices are
      kept, so a lone ring comes back unchanged.
    """
    if not rings:
        raise ValueError("no rings to join")
    # Prim's order: the ring owning the vertex nearest to anything joined is joined next, and
    # only its vertices can bring the others closer. Per vertex not joined yet: its ring, its
    # index there, the squared distance to the nearest joined vertex and where that one is.
    rest = np.concatenate(rings[1:]) if len(rings) > 1 else np.zeros((0, 2))
    owner = np.repeat(np.arange(1, len(rings)), [len(r) for r in rings[1:]])
    local = np.concatenate([np.arange(len(r)) for r in rings[1:]]) if len(rings) > 1 else owner
    dist, near = _nearest_in(rest, rings[0])
    near_ring = np.zeros(len(rest), dtype=np.int64)
    # (ring, vertex) -> the (ring, start vertex) spliced in after it, emitted at the end.
    spliced: dict[tuple[int, int], list[tuple[int, int]]] = {}
    while len(rest):
        v = int(dist.argmin())
        k = int(owner[v])
        spliced.setdefault((int(near_ring[v]), int(near[v])), []).append((k, int(local[v])))
        keep = owner != k
        rest, owner, local = rest[keep], owner[keep], local[keep]
        dist, near, near_ring = dist[keep], near[keep], near_ring[keep]
        closer, via = _nearest_in(rest, rings[k])
        better = closer < dist
        dist[better], near[better], near_ring[better] = closer[better], via[better], k
    return np.asarray(_walk(rings, spliced), dtype=np.float64)


def _walk(
    rings: list[np.ndarray], spliced: dict[tuple[int, int], list[tuple[int, int]]]
) -> list[list[float]]:
    """The joined ring's vertices: each ring from its start vertex around, detouring through
    the rings spliced after a vertex and back (an explicit stack: chains can be long)."""
    out: list[list[float]] = []
    # Frames: (ring, start, steps taken, the vertex to return to after it, or None).
    stack: list[tuple[int, int, int, list[float] | None]] = [(0, 0, 0, None)]
    while stack:
        r, start, step, back = stack.pop()
        ring = rings[r]
        if step == len(ring):
            if back is not None:  # a detour: close its ring, then cross the bridge back
                out += [ring[start].tolist(), back]
            continue
        vertex = (start + step) % len(ring)
        out.append(ring[vertex].tolist())
        stack.append((r, start, step + 1, back))
        for child, child_start in reversed(spliced.get((r, vertex), [])):
            stack.append((child, child_start, 0, ring[vertex].tolist()))
    return out


# --- Split ---------------------------------------------------------------------------------------


def _loops(points: np.ndarray) -> list[np.ndarray]:
    """The closed loops of a vertex sequence: a vertex met again closes the loop since then.

    A zero-width bridge ``a, b, ..., b, a`` closes the part at the second ``b`` and then the
    two-vertex loop ``a, b`` at the second ``a``; loops enclosing no area (bridges, repeated
    vertices) are dropped.
    """
    stack: list[tuple[float, float]] = []
    seen: dict[tuple[float, float], int] = {}
    loops = []
    for x, y in points.tolist():
        vertex = (x, y)
        at = seen.get(vertex)
        if at is None:
            seen[vertex] = len(stack)
            stack.append(vertex)
            continue
        loops.append(np.asarray(stack[at:], dtype=np.float64))
        for closed in stack[at + 1 :]:
            del seen[closed]
        del stack[at + 1 :]
    loops.append(np.asarray(stack, dtype=np.float64))
    return [loop for loop in loops if len(loop) >= 3 and _area(loop) > 0]


def _area(ring: np.ndarray) -> float:
    x, y = ring[:, 0], ring[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def _inside(point: np.ndarray, ring: np.ndarray) -> bool:
    """Even-odd point in polygon (the rule ``cv2.fillPoly`` fills by)."""
    px, py = point
    x1, y1 = ring[:, 0], ring[:, 1]
    x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
    spans = (y1 > py) != (y2 > py)
    with np.errstate(divide="ignore", invalid="ignore"):
        cross_x = x1 + (py - y1) * (x2 - x1) / (y2 - y1)
    return bool(np.count_nonzero(spans & (px < cross_x)) % 2)


def _probe(loop: np.ndarray, shared: set[tuple[float, float]]) -> np.ndarray:
    """A point of the loop that no other loop passes through: one of its own vertices, or else
    the middle of its first edge."""
    for vertex in loop.tolist():
        if tuple(vertex) not in shared:
            return np.asarray(vertex)
    return np.asarray((loop[0] + loop[1]) / 2)


def nest_loops(loops: list[np.ndarray]) -> list[Polygon]:
    """Loops that do not cross as ``Polygon``s by the even-odd rule: a loop inside an odd
    number of others is a hole of the smallest of them, inside an even number an outer ring.

    Raises:
      FormatError: the loops are too many, or overlap too much, to nest in reasonable time.
    """
    if len(loops) == 1:
        return [{"outer": loops[0].tolist(), "holes": []}]
    counts: dict[tuple[float, float], int] = {}
    for loop in loops:
        for vertex in loop.tolist():
            counts[tuple(vertex)] = counts.get(tuple(vertex), 0) + 1
    shared = {v for v, n in counts.items() if n > 1}
    lo = np.array([loop.min(axis=0) for loop in loops])
    hi = np.array([loop.max(axis=0) for loop in loops])
    areas = [_area(loop) for loop in loops]
    sizes = np.array([len(loop) for loop in loops])
    containers: list[list[int]] = []
    pairs = edges = 0
    for k, loop in enumerate(loops):
        p = _probe(loop, shared)
        candidates = np.flatnonzero((lo <= p).all(axis=1) & (p <= hi).all(axis=1))
        candidates = candidates[candidates != k]
        pairs += len(candidates)
        edges += int(sizes[candidates].sum())
        if pairs > MAX_NESTING_PAIRS or edges > MAX_NESTING_EDGES:
            raise FormatError("the polygon has too many parts inside one another to read")
        containers.append([int(c) for c in candidates if _inside(p, loops[c])])
    polygons: dict[int, Polygon] = {}
    for k in range(len(loops)):
        if len(containers[k]) % 2 == 0:
            polygons[k] = {"outer": loops[k].tolist(), "holes": []}
    for k in range(len(loops)):
        if len(containers[k]) % 2 == 1:
            # The nearest outer container (smallest area) holds it; loops that touch or cross
            # (not from a join) may leave none, and the loop is then read as a part of its own.
            outers = [c for c in containers[k] if c in polygons]
            if outers:
                parent = min(outers, key=lambda c: areas[c])
                polygons[parent]["holes"].append(loops[k].tolist())
            else:
                polygons[k] = {"outer": loops[k].tolist(), "holes": []}
    return list(polygons.values())


def split_line(points: np.ndarray) -> list[Polygon]:
    """The parts (with holes) of one YOLO-seg polygon, in pixels (module doc).

    Arguments:
      points: (N, 2) vertices of the line, already scaled to pixels.

    Returns:
      ``Polygon``s; a simple ring gives one, unchanged.

    Raises:
      FormatError: the line encloses no area, or is too complex to read.
    """
    loops = _loops(points)
    if not loops:
        raise FormatError("the polygon encloses no area")
    if len(loops) > MAX_POLYGONS:
        raise FormatError(f"the polygon has {len(loops)} parts, at most {MAX_POLYGONS} allowed")
    return nest_loops(loops)
