"""Mask <-> polygons <-> RLE conversions and measures, in the pixel-corner convention of
annotator/geometry/__init__.py."""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from annotator.geometry.base import MAX_MASK_PIXELS, GeometryError, Polygon, ring_area
from annotator.geometry.crossing import find_self_crossing


def _as_mask(mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D (H, W), got shape {mask.shape}")
    return mask.astype(bool, copy=False)


# --- Mask -> polygons ----------------------------------------------------------------------------


def _edge_contours(mask: np.ndarray) -> tuple[list[np.ndarray], np.ndarray | None]:
    """Contours of ``mask`` along pixel edges, with OpenCV's ``RETR_CCOMP`` hierarchy.

    OpenCV traces the centres of boundary pixels. On the mask upsampled 2x (nearest), every
    original pixel edge lies between two upsampled pixels, and the boundary pixel ``u`` (index in
    the upsampled image padded by one) maps to the corner ``u // 2`` of the original grid: the left
    half ``u = 2c + 1`` of column ``c`` maps to its left edge ``c``, the right half ``u = 2c + 2``
    to its right edge ``c + 1``. Diagonal steps of the upsampled trace collapse onto the shared
    corner, so concave corners come out exact. Padding keeps regions touching the image border
    closed (OpenCV would otherwise treat the border row as background).

    Arguments:
      mask: (H, W) bool, already cropped to the region of interest.

    Returns:
      The contours as (N, 2) int32 arrays of ``[x, y]`` pixel corners (consecutive duplicates
      removed) and the hierarchy array (1, N, 4) ``[next, prev, first_child, parent]`` or None.
    """
    up: np.ndarray = np.pad(mask.astype(np.uint8).repeat(2, axis=0).repeat(2, axis=1), 1)
    contours, hierarchy = cv2.findContours(up, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    rings = []
    for contour in contours:
        pts = contour.reshape(-1, 2) // 2
        keep = np.any(pts != np.roll(pts, 1, axis=0), axis=1)
        rings.append(pts[keep] if keep.any() else pts[:1])
    return rings, hierarchy


def _drop_collinear(ring: np.ndarray) -> np.ndarray:
    """Remove vertices that lie on the straight line through their neighbours (lossless)."""
    if len(ring) < 3:
        return ring
    prev = np.roll(ring, 1, axis=0)
    nxt = np.roll(ring, -1, axis=0)
    cross = (ring[:, 0] - prev[:, 0]) * (nxt[:, 1] - ring[:, 1]) - (ring[:, 1] - prev[:, 1]) * (
        nxt[:, 0] - ring[:, 0]
    )
    kept = ring[cross != 0]
    return kept if len(kept) >= 3 else ring


def _simplify(ring: np.ndarray, tolerance: float) -> np.ndarray:
    exact = _drop_collinear(ring)
    if tolerance <= 0 or len(exact) <= 4:
        return exact
    # Douglas-Peucker can fold a thin part of a ring over itself, and validate_polygons'
    # callers refuse crossing rings (check_simple): the tolerance is halved until the ring does
    # not cross, down to the exact pixel staircase, which never does (the page does the same).
    while tolerance >= 0.1:
        simplified = cv2.approxPolyDP(exact.reshape(-1, 1, 2), tolerance, True).reshape(-1, 2)
        # It can also collapse thin shapes (a one-pixel line) to two points; the exact ring is
        # still small in that case, so keep it rather than lose the object.
        if len(simplified) < 3:
            return exact
        if _small_or_simple(simplified):
            return simplified
        tolerance /= 2
    return exact


def _small_or_simple(ring: np.ndarray) -> bool:
    try:
        return find_self_crossing(ring.tolist()) is None
    except GeometryError:  # too many overlapping edges to check: keep the simplified ring
        return True


def _to_list(ring: np.ndarray, dx: int, dy: int) -> list[list[float]]:
    return [[float(x + dx), float(y + dy)] for x, y in ring.tolist()]


def mask_to_polygons(
    mask: np.ndarray, tolerance: float = 1.0, min_area: float = 0.0
) -> list[Polygon]:
    """Trace a binary mask into polygons with holes.

    Arguments:
      mask: (H, W) bool (any dtype; nonzero is foreground).
      tolerance: Douglas-Peucker tolerance in pixels (``cv2.approxPolyDP``) applied to the
        pixel-edge staircase. 0 keeps every corner (exact round trip through
        ``polygons_to_mask``); 0.5 drops most vertices and still rasterises back to the same
        pixels in practice (what the exports use); 1.0 costs about 1% IoU on objects ~100 px
        across and ~2% at ~50 px, for 3-5x fewer vertices (fine for display and editing).
      min_area: outer rings and holes whose polygon area (pixels^2) is below this are dropped:
        specks vanish and pinholes are filled.

    Returns:
      One ``Polygon`` per 8-connected part, outer rings first found first (OpenCV order), rings
      as ``[x, y]`` floats in pixel-corner coordinates (module doc). An empty mask gives ``[]``.
    """
    mask = _as_mask(mask)
    if tolerance < 0 or not math.isfinite(tolerance):
        raise ValueError(f"tolerance must be a finite number >= 0, got {tolerance}")
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return []
    cols = np.flatnonzero(mask.any(axis=0))
    y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    # Cropping first keeps the 2x upsampling cheap for small objects on large images.
    rings, hierarchy = _edge_contours(mask[y0:y1, x0:x1])
    if hierarchy is None:
        return []
    links = hierarchy[0]
    polygons: list[Polygon] = []
    for i, ring in enumerate(rings):
        if links[i][3] != -1:
            continue  # a hole; collected with its parent below
        outer = _simplify(ring, tolerance)
        if len(outer) < 3 or ring_area(outer) < max(min_area, 1e-9):
            continue
        holes: list[list[list[float]]] = []
        child = int(links[i][2])
        while child != -1:
            hole = _simplify(rings[child], tolerance)
            if len(hole) >= 3 and ring_area(hole) >= max(min_area, 1e-9):
                holes.append(_to_list(hole, x0, y0))
            child = int(links[child][0])
        polygons.append({"outer": _to_list(outer, x0, y0), "holes": holes})
    return polygons


# --- Polygons -> mask ----------------------------------------------------------------------------


def _fill_rings(rings: list[list[list[float]]], height: int, width: int) -> np.ndarray:
    """Union of the rings rasterised by pycocotools (pixel-corner convention)."""
    flat = []
    for ring in rings:
        if len(ring) < 3:
            # pycocotools would read a 2-point ring (4 numbers) as a bounding box.
            raise ValueError(f"a ring needs at least 3 points, got {len(ring)}")
        flat.append([float(v) for point in ring for v in point[:2]])
    rles = mask_utils.frPyObjects(flat, height, width)
    return mask_utils.decode(mask_utils.merge(rles)).astype(bool)


def polygons_to_mask(polygons: list[Polygon], height: int, width: int) -> np.ndarray:
    """Rasterise polygons with holes.

    Arguments:
      polygons: as returned by ``mask_to_polygons`` or ``validate_polygons``.
      height, width: size of the output mask in pixels.

    Returns:
      (height, width) bool: the union over polygons of (outer filled minus holes), so a part
      lying inside another part's hole stays foreground. Pixels are foreground when pycocotools
      rasterises them inside (pixel-corner convention, module doc).
    """
    if height <= 0 or width <= 0 or height * width > MAX_MASK_PIXELS:
        raise ValueError(f"invalid mask size {height}x{width}")
    out = np.zeros((height, width), dtype=bool)
    for polygon in polygons:
        part = _fill_rings([polygon["outer"]], height, width)
        if polygon["holes"]:
            part &= ~_fill_rings(polygon["holes"], height, width)
        out |= part
    return out


# --- RLE -----------------------------------------------------------------------------------------


def mask_to_rle(mask: np.ndarray) -> dict[str, Any]:
    """COCO compressed RLE of a mask.

    Arguments:
      mask: (H, W) bool.

    Returns:
      ``{"size": [H, W], "counts": str}``: column-major run lengths in COCO's LEB128-like string
      encoding, decoded to ``str`` so it is JSON-serialisable as is.
    """
    mask = _as_mask(mask)
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": rle["counts"].decode()}


def _counts_from_string(counts: bytes) -> np.ndarray:
    """Decode COCO's compressed counts in numpy, mirroring pycocotools' ``rleFrString``.

    pycocotools decodes without bounds checks (negative or oversized counts write past the
    buffer), so untrusted strings are decoded and checked here first.
    """
    c = np.frombuffer(counts, dtype=np.uint8).astype(np.int64) - 48
    if c.size and (c.min() < 0 or c.max() > 63):
        raise GeometryError("RLE counts contain characters outside the COCO alphabet")
    more = (c & 0x20) != 0
    if c.size and more[-1]:
        raise GeometryError("RLE counts string is truncated")
    ends = np.flatnonzero(~more)
    starts = np.concatenate([[0], ends[:-1] + 1]) if ends.size else ends
    lengths = ends - starts + 1
    if lengths.size and lengths.max() > 7:
        raise GeometryError("RLE counts contain a run longer than any image")
    group = np.repeat(np.arange(ends.size), lengths)
    pos = np.arange(c.size) - np.repeat(starts, lengths)
    values = np.zeros(ends.size, dtype=np.int64)
    np.add.at(values, group, (c & 0x1F) << (5 * pos))
    negative = (c[ends] & 0x10) != 0
    values[negative] |= -1 << (5 * lengths[negative])
    # Counts after the third are deltas against the count two places back.
    cnts = values.copy()
    if cnts.size > 3:
        cnts[3::2] = cnts[1] + np.cumsum(values[3::2])
    if cnts.size > 4:
        cnts[4::2] = cnts[2] + np.cumsum(values[4::2])
    return cnts


def _rle_size(rle: Any) -> tuple[int, int]:
    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        raise GeometryError("RLE must be an object with 'size' and 'counts'")
    size = rle["size"]
    if (
        not isinstance(size, list | tuple)
        or len(size) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in size)
    ):
        raise GeometryError(f"RLE 'size' must be [height, width] integers, got {size!r}")
    h, w = int(size[0]), int(size[1])
    if h < 0 or w < 0 or h * w > MAX_MASK_PIXELS:
        raise GeometryError(f"RLE size {h}x{w} is out of range")
    return h, w


def rle_to_mask(rle: dict[str, Any]) -> np.ndarray:
    """Decode a COCO RLE (compressed ``str``/``bytes`` counts, or uncompressed list counts).

    Arguments:
      rle: ``{"size": [H, W], "counts": ...}``, possibly untrusted.

    Returns:
      (H, W) bool.

    Raises:
      GeometryError: malformed RLE, or counts that do not add up to H*W.
    """
    h, w = _rle_size(rle)
    counts = rle["counts"]
    if isinstance(counts, str):
        try:
            counts = counts.encode("ascii")
        except UnicodeEncodeError:
            raise GeometryError("RLE counts string is not ASCII") from None
    if isinstance(counts, bytes):
        cnts = _counts_from_string(counts)
    elif isinstance(counts, list):
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in counts):
            raise GeometryError("uncompressed RLE counts must be a list of integers")
        # Bounded before numpy sees them: a count past int64 would raise OverflowError, and
        # huge ones could wrap the int64 sum around to exactly h*w.
        if any(v < 0 for v in counts):
            raise GeometryError("RLE counts must not be negative")
        if any(v > h * w for v in counts):
            raise GeometryError(f"RLE counts must not exceed the {h}x{w} image's {h * w} pixels")
        cnts = np.asarray(counts, dtype=np.int64)
    else:
        raise GeometryError(f"RLE counts must be a string or a list, got {type(counts).__name__}")
    if cnts.size and cnts.min() < 0:
        raise GeometryError("RLE counts must not be negative")
    if int(cnts.sum()) != h * w:
        raise GeometryError(f"RLE counts add up to {int(cnts.sum())} pixels, size is {h}x{w}")
    if h * w == 0:
        return np.zeros((h, w), dtype=bool)
    if isinstance(counts, list):
        compressed = mask_utils.frPyObjects({"size": [h, w], "counts": counts}, h, w)
    else:
        compressed = {"size": [h, w], "counts": counts}
    return mask_utils.decode(compressed).astype(bool)


# --- Measures ------------------------------------------------------------------------------------


def mask_bbox(mask: np.ndarray) -> list[int]:
    """Tight box of the foreground: ``[x, y, w, h]`` (COCO XYWH, pixel corners); zeros if empty."""
    mask = _as_mask(mask)
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return [0, 0, 0, 0]
    cols = np.flatnonzero(mask.any(axis=0))
    x, y = int(cols[0]), int(rows[0])
    return [x, y, int(cols[-1]) + 1 - x, int(rows[-1]) + 1 - y]


def mask_area(mask: np.ndarray) -> int:
    """Number of foreground pixels."""
    return int(np.count_nonzero(_as_mask(mask)))
