"""Mask, polygon and RLE conversions shared by the annotation API, the exports and the workers.

Pure numpy + OpenCV + pycocotools: no Django, no torch, so the web process can import it.
`masks.py` converts and measures; `untrusted.py` checks geometry that comes from outside;
`crossing.py` finds self-crossing rings; `base.py` holds the types and input limits.

Coordinate convention (pixel corners, the COCO one)
---------------------------------------------------
Polygon vertices are ``[x, y]`` in original image pixels where pixel ``(row, col)`` covers the
unit square ``[col, col + 1] x [row, row + 1]``. A polygon therefore runs along the *outside
edges* of the pixels it covers: the single pixel at ``(row=3, col=2)`` is the ring
``[[2, 3], [3, 3], [3, 4], [2, 4]]``, and a whole ``W x H`` image is ``[[0, 0], [W, 0], [W, H],
[0, H]]``. This is what pycocotools' polygon rasteriser (and so every COCO consumer) expects;
the pixel-centre rings that ``cv2.findContours`` returns lose half a pixel all around when
rasterised that way (a one-pixel-wide line would vanish), so ``mask_to_polygons`` traces the
pixel edges instead (see ``_edge_contours``).

A ``Polygon`` is one connected part: an outer ring and the rings of its holes. A part that lies
inside a hole of another part is a separate ``Polygon`` (OpenCV's two-level ``RETR_CCOMP``
hierarchy), and ``polygons_to_mask`` takes the union of ``outer - holes`` over all polygons.
"""

from annotator.geometry.base import (
    MAX_CROSSING_CANDIDATES,
    MAX_MASK_PIXELS,
    MAX_POLYGONS,
    MAX_TOTAL_POINTS,
    GeometryError,
    Polygon,
)
from annotator.geometry.crossing import check_simple, find_self_crossing
from annotator.geometry.masks import (
    mask_area,
    mask_bbox,
    mask_to_polygons,
    mask_to_rle,
    polygons_to_mask,
    rle_to_mask,
)
from annotator.geometry.untrusted import (
    bounds_tolerance,
    box_on_image,
    point_on_image,
    validate_polygons,
)

__all__ = [
    "MAX_CROSSING_CANDIDATES",
    "MAX_MASK_PIXELS",
    "MAX_POLYGONS",
    "MAX_TOTAL_POINTS",
    "GeometryError",
    "Polygon",
    "bounds_tolerance",
    "box_on_image",
    "check_simple",
    "find_self_crossing",
    "mask_area",
    "mask_bbox",
    "mask_to_polygons",
    "mask_to_rle",
    "point_on_image",
    "polygons_to_mask",
    "rle_to_mask",
    "validate_polygons",
]
