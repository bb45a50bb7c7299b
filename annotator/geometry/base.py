"""The types and input limits every geometry module shares, and a ring's area."""

from __future__ import annotations

from typing import TypedDict

import numpy as np


class Polygon(TypedDict):
    """One connected region: rings of ``[x, y]`` pixel-corner coordinates (see module doc)."""

    outer: list[list[float]]
    holes: list[list[list[float]]]


class GeometryError(ValueError):
    """Geometry from outside (a request body, an import) that cannot be used as is."""


# Upper bounds for untrusted input. 100k vertices is far beyond any hand-drawn or traced
# annotation (a 4k-pixel-wide mask traced without simplification has ~30k) and keeps the
# rasterisation of one request well under a second.
MAX_TOTAL_POINTS = 100_000
MAX_POLYGONS = 10_000
# Segment pairs whose bounding boxes overlap along the sweep axis, examined when checking a
# ring for self-crossings. Real outlines (traced or hand-drawn) stay far below; only
# adversarial shapes (thousands of long spikes across each other) reach it, and are refused.
MAX_CROSSING_CANDIDATES = 4_000_000
# Masks decode to h*w bytes: refuse sizes that would allocate more than 1 GiB.
MAX_MASK_PIXELS = 2**30


def ring_area(ring: np.ndarray | list[list[float]]) -> float:
    pts = np.asarray(ring, dtype=np.float64)
    if len(pts) < 3:
        return 0.0
    x, y = pts[:, 0], pts[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)
