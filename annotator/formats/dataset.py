"""The in-memory dataset that every format reads into and writes from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from annotator.geometry import (
    Polygon,
    mask_bbox,
    mask_to_polygons,
    polygons_to_mask,
    rle_to_mask,
)


class FormatError(ValueError):
    """An import that cannot be used; the message names the file and the offending item."""


@dataclass
class DatasetAnnotation:
    """One object on one image.

    The geometry is one of (in order of precedence when several are set):
      mask: (H, W) bool, the image's size.
      rle: COCO RLE ``{"size": [H, W], "counts": str}``.
      polygons: ``geometry.Polygon`` list in pixel-corner coordinates (holes allowed).
    or none of them for a box-only (detection) annotation, in which case ``bbox`` is required.

    Attributes:
      label: class name, one of ``Dataset.labels``.
      score: model confidence for automatic annotations, None for human ones.
      bbox: ``[x, y, w, h]`` (COCO XYWH, pixels); derived from the geometry when None.
      kind: ``"mask"`` or ``"box"``; a box is written by COCO as its bbox alone (empty
        segmentation), and by the mask and YOLO-seg writers as the filled rectangle.
      attributes: ``{name: value}`` (CVAT's COCO ``attributes``); only COCO carries them.
    """

    label: str
    mask: np.ndarray | None = None
    polygons: list[Polygon] | None = None
    rle: dict[str, Any] | None = None
    score: float | None = None
    bbox: list[float] | None = None
    kind: str = "mask"
    attributes: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.mask is None and self.polygons is None and self.rle is None and self.bbox is None:
            raise ValueError(f"annotation {self.label!r} has no mask, rle, polygons or bbox")

    @property
    def has_geometry(self) -> bool:
        return self.mask is not None or self.rle is not None or self.polygons is not None

    def to_mask(self, height: int, width: int) -> np.ndarray:
        """The annotation as an (height, width) bool mask (a box-only one fills its box)."""
        if self.mask is not None:
            if self.mask.shape != (height, width):
                raise ValueError(
                    f"mask shape {self.mask.shape} is not the image's {height}x{width}"
                )
            return self.mask.astype(bool, copy=False)
        if self.rle is not None:
            return rle_to_mask(self.rle)
        if self.polygons is not None:
            return polygons_to_mask(self.polygons, height, width)
        assert self.bbox is not None
        x, y, w, h = self.bbox
        out = np.zeros((height, width), dtype=bool)
        out[max(0, round(y)) : round(y + h), max(0, round(x)) : round(x + w)] = True
        return out

    def to_polygons(self, height: int, width: int, tolerance: float = 0.5) -> list[Polygon]:
        """Polygons with holes; traced from the mask unless the annotation is polygons."""
        if self.polygons is not None and self.mask is None and self.rle is None:
            return self.polygons
        return mask_to_polygons(self.to_mask(height, width), tolerance)

    def box(self, height: int, width: int) -> list[float]:
        """``[x, y, w, h]`` in pixels: ``bbox`` when set, else the tight box of the geometry."""
        if self.bbox is not None:
            return [float(v) for v in self.bbox]
        return [float(v) for v in mask_bbox(self.to_mask(height, width))]


# What the YOLO-seg and PNG mask exports cannot hold, written into their README.txt.
NOT_CARRIED = (
    "Not in this format: image tags (image-level labels) and object attributes (occluded,\n"
    "notes, ...) are not written here; the COCO export carries both (images[].tags and each\n"
    "annotation's attributes). Bounding boxes are written as their filled rectangle.\n"
)


@dataclass
class DatasetImage:
    """An image and its objects. ``file_name`` is relative (``train/0001.jpg``), never absolute.
    ``tags`` are the names of its image-level labels (classification); only COCO carries them."""

    file_name: str
    width: int
    height: int
    annotations: list[DatasetAnnotation] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


@dataclass
class Dataset:
    """Labels (class names, in class-index order) and images.

    ``tag_labels`` are the names of image-level labels (not classes: no annotation has one);
    ``attributes`` the object attribute definitions, each ``{"name", "type", "default",
    "choices", "label"}`` (``label`` a class name, or None for every class)."""

    labels: list[str]
    images: list[DatasetImage] = field(default_factory=list)
    tag_labels: list[str] = field(default_factory=list)
    attributes: list[dict[str, Any]] = field(default_factory=list)

    def label_index(self) -> dict[str, int]:
        """Class name -> index in ``labels`` (0-based, the YOLO class id)."""
        index = {name: i for i, name in enumerate(self.labels)}
        if len(index) != len(self.labels):
            raise ValueError(f"duplicate labels in {self.labels}")
        return index

    def check_labels(self) -> None:
        """ValueError when an annotation's label is not in ``labels``."""
        index = self.label_index()
        for image in self.images:
            for ann in image.annotations:
                if ann.label not in index:
                    raise ValueError(f"{image.file_name}: label {ann.label!r} not in {self.labels}")
