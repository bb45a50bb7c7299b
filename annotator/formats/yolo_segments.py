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
# Edge tests spent nesting the loops of one imported line; real outlines need a tiny fraction.
MAX_NESTING_TESTS = 20_000_000


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
    polygons = ann.to_polygons(height, width, tolerance)
    if len(polygons) > 1:
        # Several parts may include one inside another's hole; with the holes filled it is
        # covered, and kept it would cut a hole under the even-odd fill. Tracing the filled
        # mask drops it, as Ultralytics' RETR_EXTERNAL tracing does.
        polygons = mask_to_polygons(_fill_holes(ann.to_mask(height, width)), tolerance)
    return [np.asarray(p["outer"], dtype=np.float64) for p in polygons]


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    pixels = mask.astype(np.uint8)
    contours, _ = cv2.findContours(pixels, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    filled = np.zeros_like(pixels)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    return filled.astype(bool)


# --- Join ----------------------------------------------------------------------------------------


def _nearest(a: np.ndarray, b: np.ndarray) -> tuple[float, int, int]:
    """Squared distance and indices of the nearest pair of vertices of ``a`` and ``b``."""
    best = (np.inf, 0, 0)
    step = max(1, _PAIR_CHUNK // max(1, len(b)))
    for start in range(0, len(a), step):
        block = a[start : start + step]
        d = ((block[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        i, j = np.unravel_index(int(np.argmin(d)), d.shape)
        if d[i, j] < best[0]:
            best = (float(d[i, j]), start + int(i), int(j))
    return best


def join_rings(rings: list[np.ndarray]) -> np.ndarray:
    """One ring through all ``rings``, joined by zero-width bridges (module doc).

    Arguments:
      rings: (N_i, 2) arrays, each closed implicitly (last vertex back to the first), sharing
        no vertex with another.

    Returns:
      (M, 2) array: the first ring, with every other ring spliced in after the joined vertex
      ``a`` nearest to it as ``a, b, <the ring from b around>, b, a``; the rings' own vertices
      are kept, so a lone ring comes back unchanged.
    """
    if not rings:
        raise ValueError("no rings to join")
    joined = rings[0]
    # Prim's order: for each ring not joined yet, the squared distance to its nearest joined
    # vertex, that vertex (by value: splicing moves indices) and its own nearest vertex.
    best: dict[int, tuple[float, np.ndarray, int]] = {}
    for k in range(1, len(rings)):
        d, i, j = _nearest(joined, rings[k])
        best[k] = (d, joined[i], j)
    while best:
        k = min(best, key=lambda r: best[r][0])
        _, anchor, start = best.pop(k)
        at = int(np.flatnonzero((joined == anchor).all(axis=1))[0])
        ring = np.roll(rings[k], -start, axis=0)
        joined = np.concatenate([joined[: at + 1], ring, ring[:1], joined[at:]])
        for r, (old, _, _) in best.items():
            d, i, j = _nearest(rings[k], rings[r])
            if d < old:
                best[r] = (d, rings[k][i], j)
    return joined


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
    spent = 0
    for k, loop in enumerate(loops):
        p = _probe(loop, shared)
        candidates = np.flatnonzero((lo <= p).all(axis=1) & (p <= hi).all(axis=1))
        candidates = candidates[candidates != k]
        spent += int(sizes[candidates].sum())
        if spent > MAX_NESTING_TESTS:
            raise FormatError("the polygon has too many overlapping parts to read")
        containers.append([int(c) for c in candidates if _inside(p, loops[c])])
    polygons: dict[int, Polygon] = {}
    for k in range(len(loops)):
        if len(containers[k]) % 2 == 0:
            polygons[k] = {"outer": loops[k].tolist(), "holes": []}
    for k in range(len(loops)):
        if len(containers[k]) % 2 == 1:
            # The nearest container (smallest area) is at the depth one less: an outer ring.
            parent = min(containers[k], key=lambda c: areas[c])
            polygons[parent]["holes"].append(loops[k].tolist())
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
