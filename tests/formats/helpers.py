"""Shared shapes for the format tests: a hole, two parts, a thin line, scores."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from annotator.formats import Dataset, DatasetAnnotation, DatasetImage


def disc(h: int, w: int, cx: float, cy: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return (xx - cx) ** 2 + (yy - cy) ** 2 < r**2


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else np.count_nonzero(a & b) / union


def ring_mask() -> np.ndarray:
    """A disc with a hole at (x=50, y=60): (120, 160), clear of ``two_part_mask``."""
    return disc(120, 160, 50, 60, 40) & ~disc(120, 160, 50, 60, 15)


def two_part_mask() -> np.ndarray:
    """Two separate discs: (120, 160)."""
    return disc(120, 160, 120, 30, 20) | disc(120, 160, 125, 95, 18)


def sample_dataset() -> Dataset:
    """Two annotated images (hole, two parts, polygons, a thin bar, a score) and an empty one."""
    bar = np.zeros((90, 100), bool)
    bar[80:83, 5:95] = True
    return Dataset(
        labels=["cat", "dog", "tree"],
        images=[
            DatasetImage(
                "a.png",
                160,
                120,
                [
                    DatasetAnnotation("cat", mask=ring_mask()),
                    DatasetAnnotation("dog", mask=two_part_mask(), score=0.75),
                ],
            ),
            DatasetImage(
                "sub/b.png",
                100,
                90,
                [
                    DatasetAnnotation(
                        "tree",
                        polygons=[{"outer": [[10, 10], [60, 12], [40, 70]], "holes": []}],
                    ),
                    DatasetAnnotation("cat", mask=bar),
                ],
            ),
            DatasetImage("empty.png", 64, 48, []),
        ],
    )


def png_bytes(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (120, 30, 200)).save(buf, format="PNG")
    return buf.getvalue()


def jpeg_bytes(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (30, 160, 90)).save(buf, format="JPEG")
    return buf.getvalue()


def image_bytes(dataset: Dataset) -> dict[str, bytes]:
    return {img.file_name: png_bytes(img.width, img.height) for img in dataset.images}
