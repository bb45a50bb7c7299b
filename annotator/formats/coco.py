"""COCO instances JSON: export for training and evaluation, strict import.

Export: one category per label (ids 1..n in label order), ``iscrowd`` 0, ``area`` in pixels of
the mask, ``bbox`` XYWH. Segmentation is polygons (pixel-corner coordinates, the COCO
convention) unless the object has a hole - COCO polygons are unioned, so they cannot cut one -
or ``use_rle`` is set; then it is compressed RLE with ``counts`` as a string.

Import reads the whole file, validates every item and only then returns a ``Dataset``; the
first problem raises ``FormatError`` naming the item (``annotations[12].image_id``).

Beyond the COCO instances format (tools that do not know these keys ignore them):
  * A box annotation (``kind`` box) is its ``bbox`` with an empty ``segmentation`` (COCO's own
    way of writing a detection); ``area`` is the box's w * h. An import reads such an
    annotation as a box.
  * Object attributes go in each annotation's ``attributes`` dict ({name: value}), CVAT's
    convention; their definitions in a top-level ``attributes`` list (``name``, ``type``
    checkbox|text|select|number, ``default``, ``choices``, ``label`` a category name or null).
  * Image tags (image-level labels) go in ``images[].tags`` (a list of names) and their names
    in a top-level ``tags`` list. They are not categories: a detector trained on the file would
    take a category for an object class with no instance, and COCO's evaluation would score it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from annotator.formats.dataset import Dataset, DatasetAnnotation, DatasetImage, FormatError
from annotator.geometry import (
    GeometryError,
    Polygon,
    box_on_image,
    mask_area,
    mask_bbox,
    mask_to_rle,
    rle_to_mask,
    validate_polygons,
)

# Larger images are refused on import: a mask of 2**28 pixels is already 256 MB (the YOLO and
# mask readers share the bound).
MAX_IMAGE_PIXELS = 2**28

# --- Export --------------------------------------------------------------------------------------


def _segmentation(
    ann: DatasetAnnotation, height: int, width: int, use_rle: bool, tolerance: float
) -> tuple[list[list[float]] | dict[str, Any], np.ndarray]:
    mask = ann.to_mask(height, width)
    if not use_rle:
        polygons = ann.to_polygons(height, width, tolerance)
        if polygons and not any(p["holes"] for p in polygons):
            flat = [[round(v, 3) for point in p["outer"] for v in point] for p in polygons]
            return flat, mask
    return mask_to_rle(mask), mask


def to_coco(dataset: Dataset, *, use_rle: bool = False, tolerance: float = 0.5) -> dict[str, Any]:
    """A COCO instances dict (``json.dumps``-able).

    Arguments:
      dataset: images with annotations; box-only annotations get a box-shaped segmentation.
      use_rle: write every segmentation as RLE (exact, larger for simple shapes).
      tolerance: polygon simplification in pixels (``geometry.mask_to_polygons``); 0.5 keeps
        the rasterised masks identical in practice.
    """
    index = dataset.label_index()
    dataset.check_labels()
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for image_id, image in enumerate(dataset.images, start=1):
        entry: dict[str, Any] = {
            "id": image_id,
            "file_name": image.file_name,
            "width": image.width,
            "height": image.height,
        }
        if image.tags:
            entry["tags"] = list(image.tags)
        images.append(entry)
        for ann in image.annotations:
            record: dict[str, Any] = {
                "id": len(annotations) + 1,
                "image_id": image_id,
                "category_id": index[ann.label] + 1,
            }
            if ann.kind == "box":
                box = ann.box(image.height, image.width)
                record.update(segmentation=[], area=box[2] * box[3], bbox=box)
            else:
                segmentation, mask = _segmentation(
                    ann, image.height, image.width, use_rle, tolerance
                )
                record.update(
                    segmentation=segmentation,
                    area=mask_area(mask),
                    bbox=[float(v) for v in (ann.bbox or mask_bbox(mask))],
                )
            record["iscrowd"] = 0
            if ann.score is not None:
                record["score"] = float(ann.score)
            if ann.attributes:
                record["attributes"] = dict(ann.attributes)
            annotations.append(record)
    categories = [
        {"id": i + 1, "name": name, "supercategory": ""} for i, name in enumerate(dataset.labels)
    ]
    out: dict[str, Any] = {
        "info": {"description": "exported by sam-annotator"},
        "images": images,
        "annotations": annotations,
        "categories": categories,
    }
    if dataset.tag_labels:
        out["tags"] = list(dataset.tag_labels)
    if dataset.attributes:
        out["attributes"] = [dict(spec) for spec in dataset.attributes]
    return out


def write_coco(
    dataset: Dataset, destination: str | Path | BinaryIO, *, use_rle: bool = False
) -> None:
    """Write ``to_coco(dataset)`` as JSON to a path or a binary file object."""
    data = json.dumps(to_coco(dataset, use_rle=use_rle)).encode()
    if isinstance(destination, str | Path):
        Path(destination).write_bytes(data)
    else:
        destination.write(data)


# --- Import --------------------------------------------------------------------------------------


def _require(obj: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in obj:
        raise FormatError(f"{where} is missing '{key}'")
    value = obj[key]
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise FormatError(f"{where}.{key} must not be a boolean")
    if not isinstance(value, kind):
        names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise FormatError(f"{where}.{key} must be {names}, got {type(value).__name__}")
    return value


def _objects(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    items = _require(data, key, list, "COCO file")
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise FormatError(f"{key}[{i}] must be an object")
    return items


def _positive_int(obj: dict[str, Any], key: str, where: str) -> int:
    value = _require(obj, key, int, where)
    if value <= 0:
        raise FormatError(f"{where}.{key} must be positive, got {value}")
    return int(value)


def _finite(values: object, count: int | None, where: str) -> list[float]:
    if not isinstance(values, list) or (count is not None and len(values) != count):
        raise FormatError(f"{where} must be a list of {count or 'some'} numbers")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise FormatError(f"{where} has a non-numeric or non-finite value {v!r}")
        out.append(float(v))
    return out


def _box_on_image(bbox: list[float], image: DatasetImage) -> bool:
    x, y, w, h = bbox
    return box_on_image(x, y, x + w, y + h, image.width, image.height)


def _read_segmentation(
    seg: object, image: DatasetImage, where: str
) -> tuple[list[Polygon] | None, dict[str, Any] | None]:
    if isinstance(seg, dict):
        try:
            mask = rle_to_mask(seg)
        except GeometryError as exc:
            raise FormatError(f"{where}: {exc}") from None
        if mask.shape != (image.height, image.width):
            raise FormatError(
                f"{where}: RLE size {list(mask.shape)} is not the image's "
                f"[{image.height}, {image.width}]"
            )
        return None, mask_to_rle(mask)
    if isinstance(seg, list):
        rings = []
        for k, flat in enumerate(seg):
            coords = _finite(flat, None, f"{where}[{k}]")
            if len(coords) % 2 or len(coords) < 6:
                raise FormatError(f"{where}[{k}] needs an even number (>= 6) of coordinates")
            rings.append({"outer": [coords[j : j + 2] for j in range(0, len(coords), 2)]})
        try:
            return validate_polygons(rings, image.width, image.height), None
        except GeometryError as exc:
            raise FormatError(f"{where}: {exc}") from None
    raise FormatError(f"{where} must be a list of polygons or an RLE object")


def from_coco(data: object) -> Dataset:
    """Validate a decoded COCO instances dict and convert it (see module doc)."""
    if not isinstance(data, dict):
        raise FormatError("COCO file must be a JSON object")
    categories: dict[int, str] = {}
    # A set beside the dict: looking names up in categories.values() made the check quadratic
    # (16,000 categories took over a second, a few MB of JSON a web thread's minutes).
    seen: set[str] = set()
    for i, cat in enumerate(_objects(data, "categories")):
        cid = _require(cat, "id", int, f"categories[{i}]")
        name = _require(cat, "name", str, f"categories[{i}]")
        if cid in categories:
            raise FormatError(f"categories[{i}].id {cid} is used twice")
        if name in seen:
            raise FormatError(f"categories[{i}].name {name!r} is used twice")
        categories[cid] = name
        seen.add(name)
    images: dict[int, DatasetImage] = {}
    for i, img in enumerate(_objects(data, "images")):
        where = f"images[{i}]"
        iid = _require(img, "id", int, where)
        if iid in images:
            raise FormatError(f"{where}.id {iid} is used twice")
        file_name = _require(img, "file_name", str, where)
        if not file_name or file_name.startswith(("/", "\\")) or ".." in Path(file_name).parts:
            raise FormatError(f"{where}.file_name {file_name!r} must be a relative path")
        width, height = _positive_int(img, "width", where), _positive_int(img, "height", where)
        if width * height > MAX_IMAGE_PIXELS:
            # Each annotation's RLE decodes to a mask of the image's size.
            raise FormatError(f"{where} is {width}x{height}, more than {MAX_IMAGE_PIXELS} pixels")
        images[iid] = DatasetImage(file_name, width, height, tags=_names(img, "tags", where))
    for i, ann in enumerate(_objects(data, "annotations")):
        where = f"annotations[{i}]"
        image_id = _require(ann, "image_id", int, where)
        category_id = _require(ann, "category_id", int, where)
        if image_id not in images:
            raise FormatError(f"{where}.image_id {image_id} does not match any image")
        if category_id not in categories:
            raise FormatError(f"{where}.category_id {category_id} does not match any category")
        image = images[image_id]
        bbox = _finite(ann["bbox"], 4, f"{where}.bbox") if "bbox" in ann else None
        if bbox is not None and (bbox[2] < 0 or bbox[3] < 0):
            raise FormatError(f"{where}.bbox has a negative width or height")
        if bbox is not None and not _box_on_image(bbox, image):
            raise FormatError(
                f"{where}.bbox {bbox} is outside the {image.width}x{image.height} image"
            )
        polygons, rle = None, None
        if ann.get("segmentation") not in (None, []):
            polygons, rle = _read_segmentation(ann["segmentation"], image, f"{where}.segmentation")
        elif bbox is None:
            raise FormatError(f"{where} has neither a segmentation nor a bbox")
        score = None
        if "score" in ann:
            score = _finite([ann["score"]], 1, f"{where}.score")[0]
        image.annotations.append(
            DatasetAnnotation(
                categories[category_id], polygons=polygons, rle=rle, score=score, bbox=bbox,
                kind="mask" if polygons is not None or rle is not None else "box",
                attributes=_attribute_values(ann, where),
            )
        )  # fmt: skip
    tag_labels = _names(data, "tags", "COCO file")
    for image in images.values():
        tag_labels += [t for t in image.tags if t not in tag_labels]
    return Dataset(
        labels=[categories[k] for k in sorted(categories)],
        images=list(images.values()),
        tag_labels=list(dict.fromkeys(tag_labels)),
        attributes=_attribute_specs(data),
    )


def _names(obj: dict[str, Any], key: str, where: str) -> list[str]:
    value = obj.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise FormatError(f"{where}.{key} must be a list of names")
    return list(dict.fromkeys(value))


def _scalar(value: object, where: str) -> Any:
    if isinstance(value, bool | str) or value is None:
        return value
    return _finite([value], 1, where)[0]


def _attribute_values(ann: dict[str, Any], where: str) -> dict[str, Any]:
    values = ann.get("attributes", {})
    if not isinstance(values, dict):
        raise FormatError(f"{where}.attributes must be an object {{name: value}}")
    return {str(k): _scalar(v, f"{where}.attributes.{k}") for k, v in values.items()}


_SPEC_TYPES = ("checkbox", "text", "select", "number")


def _attribute_specs(data: dict[str, Any]) -> list[dict[str, Any]]:
    if "attributes" not in data:
        return []
    specs = []
    for i, spec in enumerate(_objects(data, "attributes")):
        where = f"attributes[{i}]"
        name = _require(spec, "name", str, where)
        kind = _require(spec, "type", str, where)
        if kind not in _SPEC_TYPES:
            raise FormatError(f"{where}.type must be one of {', '.join(_SPEC_TYPES)}")
        choices = _names(spec, "choices", where)
        label = spec.get("label")
        if label is not None and not isinstance(label, str):
            raise FormatError(f"{where}.label must be a category name or null")
        default = _scalar(spec.get("default"), f"{where}.default")
        specs.append(
            {"name": name, "type": kind, "default": default, "choices": choices, "label": label}
        )
    return specs


def read_coco(source: str | Path | bytes | BinaryIO) -> Dataset:
    """Read a COCO instances JSON file (path, bytes or binary file object)."""
    try:
        if isinstance(source, str | Path):
            raw = Path(source).read_bytes()
        elif isinstance(source, bytes):
            raw = source
        else:
            raw = source.read()
        data = json.loads(raw)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"not a valid COCO JSON file: {exc}") from None
    except RecursionError:
        # json's decoder recurses once per nesting level; "[[[[...]]]]" exhausts the stack.
        raise FormatError("not a valid COCO JSON file: nested too deeply") from None
    return from_coco(data)
