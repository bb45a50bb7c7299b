"""Geometry from outside (a request body, an import, a prompt): bounds on the image, parsing
and the self-crossing check of untrusted polygons."""

from __future__ import annotations

import math

from annotator.geometry.base import (
    MAX_POLYGONS,
    MAX_TOTAL_POINTS,
    GeometryError,
    Polygon,
    ring_area,
)


def bounds_tolerance(width: int, height: int) -> float:
    """How far past the image edge a point may lie and still count as on the image.

    Clicks just past the edge are normal when drawing by hand in the browser (and rounding in
    other tools' files); anything further out is a frame mix-up (normalised or resized
    coordinates, another image's box) and is refused. One tolerance for drawn polygons, prompt
    points and boxes, auto-annotation boxes and imported COCO boxes.
    """
    return max(4.0, 0.02 * max(width, height))


def point_on_image(x: float, y: float, width: int, height: int) -> bool:
    tol = bounds_tolerance(width, height)
    return -tol <= x <= width + tol and -tol <= y <= height + tol


def box_on_image(x0: float, y0: float, x1: float, y1: float, width: int, height: int) -> bool:
    """Whether the box from corner (x0, y0) to corner (x1, y1) (XYXY, original pixels, the
    first corner the top left) lies on the image, within bounds_tolerance."""
    tol = bounds_tolerance(width, height)
    return -tol <= x0 and -tol <= y0 and x1 <= width + tol and y1 <= height + tol


def _parse_ring(
    ring: object, where: str, width: int, height: int, budget: list[int]
) -> list[list[float]]:
    if not isinstance(ring, list):
        raise GeometryError(f"{where} must be a list of [x, y] points")
    if len(ring) < 3:
        raise GeometryError(f"{where} has {len(ring)} points, a ring needs at least 3")
    budget[0] += len(ring)
    if budget[0] > MAX_TOTAL_POINTS:
        raise GeometryError(f"more than {MAX_TOTAL_POINTS} points in total")
    out: list[list[float]] = []
    for j, point in enumerate(ring):
        if not isinstance(point, list | tuple) or len(point) != 2:
            raise GeometryError(f"{where}[{j}] must be an [x, y] pair")
        coords = []
        for v in point:
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise GeometryError(f"{where}[{j}] has a non-numeric coordinate {v!r}")
            try:
                f = float(v)
            except OverflowError:
                f = math.inf
            if not math.isfinite(f):
                raise GeometryError(f"{where}[{j}] has a non-finite coordinate")
            coords.append(f)
        x, y = coords
        if not point_on_image(x, y, width, height):
            raise GeometryError(f"{where}[{j}] = [{x}, {y}] is outside the {width}x{height} image")
        out.append([min(max(x, 0.0), float(width)), min(max(y, 0.0), float(height))])
    if ring_area(out) == 0.0:
        raise GeometryError(f"{where} encloses no area")
    return out


def validate_polygons(data: object, width: int, height: int) -> list[Polygon]:
    """Parse untrusted polygons (decoded JSON) for an image of ``width x height`` pixels.

    Arguments:
      data: expected ``[{"outer": [[x, y], ...], "holes": [[[x, y], ...], ...]}, ...]`` in
        pixel-corner coordinates; ``holes`` may be omitted.
      width, height: image size in pixels.

    Returns:
      Clean polygons: coordinates as floats, clipped to ``[0, width] x [0, height]``. Points up
      to ``max(4 px, 2% of the longer side)`` outside the image are clipped; further out is an
      error.

    Raises:
      GeometryError: with the path of the offending item, e.g. ``polygons[2].holes[0][5]``.
    """
    if width <= 0 or height <= 0:
        raise GeometryError(f"invalid image size {width}x{height}")
    if not isinstance(data, list):
        raise GeometryError(f"polygons must be a list, got {type(data).__name__}")
    if len(data) > MAX_POLYGONS:
        raise GeometryError(f"{len(data)} polygons, at most {MAX_POLYGONS} allowed")
    budget = [0]
    polygons: list[Polygon] = []
    for i, item in enumerate(data):
        where = f"polygons[{i}]"
        if not isinstance(item, dict):
            raise GeometryError(f"{where} must be an object with 'outer' and 'holes'")
        if "outer" not in item:
            raise GeometryError(f"{where} is missing 'outer'")
        unknown = set(item) - {"outer", "holes"}
        if unknown:
            raise GeometryError(f"{where} has unknown keys {sorted(unknown)}")
        outer = _parse_ring(item["outer"], f"{where}.outer", width, height, budget)
        raw_holes = item.get("holes", [])
        if not isinstance(raw_holes, list):
            raise GeometryError(f"{where}.holes must be a list of rings")
        holes = [
            _parse_ring(h, f"{where}.holes[{k}]", width, height, budget)
            for k, h in enumerate(raw_holes)
        ]
        polygons.append({"outer": outer, "holes": holes})
    return polygons
