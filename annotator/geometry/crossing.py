"""Whether a ring crosses itself: a sweep over its segments' bounding boxes, bounded by
MAX_CROSSING_CANDIDATES so an adversarial ring cannot take a worker's minutes."""

from __future__ import annotations

import numpy as np

from annotator.geometry.base import MAX_CROSSING_CANDIDATES, GeometryError, Polygon


def _orientation(
    ax: np.ndarray, ay: np.ndarray, bx: np.ndarray, by: np.ndarray, cx: np.ndarray, cy: np.ndarray
) -> np.ndarray:
    return np.sign((bx - ax) * (cy - ay) - (by - ay) * (cx - ax))


def _crossing_candidates(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Segments sorted by `lo` along one axis; for each, how many later ones start before it
    ends (the pairs that overlap on this axis), and their total."""
    order = np.argsort(lo, kind="stable")
    stop = np.searchsorted(lo[order], hi[order], side="right")
    counts = np.maximum(stop - np.arange(len(order)) - 1, 0)
    return order, counts, int(counts.sum())


def find_self_crossing(ring: list[list[float]]) -> tuple[int, int] | None:
    """The first pair of edges (i, j) of a closed ring that properly cross, or None.

    Edge i runs from vertex i to vertex i + 1. Touching is not crossing: traced outlines pass
    through a shared corner where two pixels meet diagonally, and neighbouring edges share a
    vertex; only edges whose interiors cut each other make the fill ambiguous. A sweep over the
    axis with fewer overlapping pairs keeps this near-linear for real outlines.

    Raises:
      GeometryError: the ring has so many long, overlapping edges that checking it would take
        longer than any real annotation needs (MAX_CROSSING_CANDIDATES).
    """
    pts = np.asarray(ring, dtype=np.float64)
    n = len(pts)
    if n < 4:
        return None
    a, b = pts, np.roll(pts, -1, axis=0)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    best = min(
        (_crossing_candidates(lo[:, axis], hi[:, axis]) + (axis,) for axis in (0, 1)),
        key=lambda found: found[2],
    )
    order, counts, total, axis = best
    if total > MAX_CROSSING_CANDIDATES:
        raise GeometryError(
            f"the ring has {n} edges overlapping in {total} pairs; too complex to check "
            "(simplify it)"
        )
    other = 1 - axis
    starts = np.arange(n)
    chunk = 1_000_000
    begin = 0
    while begin < n:
        # Whole segments per chunk, about `chunk` pairs each.
        cum = np.cumsum(counts[begin:])
        end = begin + max(1, int(np.searchsorted(cum, chunk, side="right")))
        rows = np.repeat(starts[begin:end], counts[begin:end])
        if rows.size:
            offsets = np.arange(rows.size) - np.repeat(
                np.cumsum(counts[begin:end]) - counts[begin:end], counts[begin:end]
            )
            i, j = order[rows], order[rows + 1 + offsets]
            keep = (lo[i, other] <= hi[j, other]) & (lo[j, other] <= hi[i, other])
            i, j = i[keep], j[keep]
            o1 = _orientation(a[i, 0], a[i, 1], b[i, 0], b[i, 1], a[j, 0], a[j, 1])
            o2 = _orientation(a[i, 0], a[i, 1], b[i, 0], b[i, 1], b[j, 0], b[j, 1])
            o3 = _orientation(a[j, 0], a[j, 1], b[j, 0], b[j, 1], a[i, 0], a[i, 1])
            o4 = _orientation(a[j, 0], a[j, 1], b[j, 0], b[j, 1], b[i, 0], b[i, 1])
            crossing = np.flatnonzero((o1 * o2 < 0) & (o3 * o4 < 0))
            if crossing.size:
                k = int(crossing[0])
                first, second = sorted((int(i[k]), int(j[k])))
                return first, second
        begin = end
    return None


def check_simple(polygons: list[Polygon]) -> None:
    """GeometryError naming the first ring whose edges cross each other (a bow tie): its fill
    depends on the rasteriser's rule, so what was drawn and what is stored could differ."""
    for i, polygon in enumerate(polygons):
        rings = [(f"polygons[{i}].outer", polygon["outer"])] + [
            (f"polygons[{i}].holes[{k}]", hole) for k, hole in enumerate(polygon["holes"])
        ]
        for where, ring in rings:
            found = find_self_crossing(ring)
            if found is not None:
                raise GeometryError(
                    f"{where} crosses itself (edges {found[0]} and {found[1]}); "
                    "a ring must not cross its own edges"
                )
