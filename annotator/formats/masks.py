"""PNG mask export and import, with a ``labels.json`` map.

Archive layout::

    labels.json        {"mode": "instance" | "semantic", "labels": [...], "images": [...]}
    masks/<stem>.png   one PNG per image, the image's size
    README.txt         the layout, and what the format cannot hold (tags, attributes)

Instance mode: pixel value ``k`` (1..N) is the k-th object of the image, 0 is background; 8-bit
greyscale PNG, 16-bit when an image has more than 255 objects. ``images[i].instances`` maps each
id to its label (and score). Where objects overlap the later one wins: a PNG holds one value per
pixel.

Semantic mode: pixel value ``c`` is ``labels[c]`` where ``labels[0]`` is ``"background"``; a
palette PNG (colours for viewing only, the values are the class indices). Import gives one
annotation per class present (all its parts together), so instances are not recovered.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Literal

import numpy as np
from PIL import Image

from annotator.formats.dataset import (
    NOT_CARRIED,
    Dataset,
    DatasetAnnotation,
    DatasetImage,
    FormatError,
)
from annotator.formats.safe_zip import ZipLimits, ZipSource, as_directory

Mode = Literal["instance", "semantic"]
BACKGROUND = "background"
_README = (
    "PNG masks exported by SAM Annotator: masks/<image stem>.png, one per image, and\n"
    "labels.json, which says what each pixel value means (mode instance: the k-th object of\n"
    "the image, listed under images[].instances; mode semantic: labels[value]).\n\n"
)
MAX_IMAGE_PIXELS = 2**28


def _palette(n: int) -> list[int]:
    """Pascal VOC's colour map: distinct, stable colours for class indices."""
    out = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        out += [r, g, b]
    return out[: 3 * max(n, 256)]


def _png(array: np.ndarray, palette: list[int] | None = None) -> bytes:
    if array.dtype == np.uint16:
        img = Image.fromarray(array)  # mode I;16, written as 16-bit greyscale
    else:
        img = Image.fromarray(array.astype(np.uint8), mode="P" if palette else "L")
        if palette:
            img.putpalette(palette)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def render_instance(image: DatasetImage) -> np.ndarray:
    """(H, W) uint8 or uint16 instance ids (1..N in annotation order, 0 background)."""
    dtype = np.uint8 if len(image.annotations) <= 255 else np.uint16
    if len(image.annotations) > 65535:
        raise ValueError(f"{image.file_name}: more than 65535 objects")
    out = np.zeros((image.height, image.width), dtype=dtype)
    for k, ann in enumerate(image.annotations, start=1):
        out[ann.to_mask(image.height, image.width)] = k
    return out


def render_semantic(image: DatasetImage, index: dict[str, int]) -> np.ndarray:
    """(H, W) uint8 class indices (label index + 1, 0 background)."""
    out = np.zeros((image.height, image.width), dtype=np.uint8)
    for ann in image.annotations:
        out[ann.to_mask(image.height, image.width)] = index[ann.label] + 1
    return out


def export_masks(
    dataset: Dataset, destination: str | Path | BinaryIO, mode: Mode = "instance"
) -> None:
    """Write the PNG mask zip described in the module doc to a path or binary file object."""
    if mode not in ("instance", "semantic"):
        raise ValueError(f"mode must be 'instance' or 'semantic', got {mode!r}")
    index = dataset.label_index()
    dataset.check_labels()
    if mode == "semantic" and len(dataset.labels) > 255:
        raise ValueError("semantic PNG masks hold at most 255 classes")
    records: list[dict[str, Any]] = []
    with zipfile.ZipFile(destination, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for image in dataset.images:
            mask_name = f"masks/{PurePosixPath(image.file_name).with_suffix('')}.png"
            record: dict[str, Any] = {
                "file_name": image.file_name,
                "mask": mask_name,
                "width": image.width,
                "height": image.height,
            }
            if mode == "instance":
                png = _png(render_instance(image))
                record["instances"] = [
                    {"id": k, "label": ann.label, "score": ann.score}
                    for k, ann in enumerate(image.annotations, start=1)
                ]
            else:
                png = _png(render_semantic(image, index), _palette(len(dataset.labels) + 1))
            archive.writestr(mask_name, png)
            records.append(record)
        labels = dataset.labels if mode == "instance" else [BACKGROUND, *dataset.labels]
        doc = {"mode": mode, "labels": labels, "images": records}
        archive.writestr("labels.json", json.dumps(doc, indent=1))
        archive.writestr("README.txt", _README + NOT_CARRIED)


# --- Import --------------------------------------------------------------------------------------


def _load_png(path: Path, width: int, height: int, where: str) -> np.ndarray:
    try:
        with Image.open(path, formats=["PNG"]) as img:
            if img.size != (width, height):
                raise FormatError(
                    f"{where}: mask is {img.size[0]}x{img.size[1]}, expected {width}x{height}"
                )
            if width * height > MAX_IMAGE_PIXELS:
                raise FormatError(f"{where}: mask is too large")
            if img.mode not in ("L", "P", "I;16", "I;16B", "I", "1"):
                raise FormatError(f"{where}: mask must be single-channel, got mode {img.mode}")
            return np.asarray(img).astype(np.int64)
    except (OSError, Image.DecompressionBombError) as exc:  # UnidentifiedImageError: not a PNG
        raise FormatError(f"{where}: not a readable PNG: {exc}") from None


def _int(record: dict[str, Any], key: str, where: str) -> int:
    value = record.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise FormatError(f"{where}.{key} must be a positive integer")
    return value


def _archive_file(root: Path, name: str) -> Path | None:
    """The extracted file `name` names, or None: outside the archive, absent, or a name no
    file system holds (over 255 bytes, a NUL), where stat raises instead of answering no."""
    try:
        path = (root / name).resolve()
        if path.is_relative_to(root.resolve()) and path.is_file():
            return path
    except (OSError, ValueError):
        pass
    return None


def _read_image(
    root: Path, record: object, where: str, mode: str, labels: list[str], known: frozenset[str]
) -> DatasetImage:
    if not isinstance(record, dict):
        raise FormatError(f"{where} must be an object")
    file_name, mask_name = record.get("file_name"), record.get("mask")
    if not isinstance(file_name, str) or not isinstance(mask_name, str):
        raise FormatError(f"{where} needs 'file_name' and 'mask' strings")
    width, height = _int(record, "width", where), _int(record, "height", where)
    path = _archive_file(root, mask_name)
    if path is None:
        raise FormatError(f"{where}.mask {mask_name!r} is not a file in the archive")
    values = _load_png(path, width, height, f"{where}.mask")
    image = DatasetImage(file_name, width, height)
    present = set(np.unique(values).tolist()) - {0}
    if mode == "semantic":
        unknown = sorted(v for v in present if v >= len(labels))
        if unknown:
            raise FormatError(f"{where}.mask has class values {unknown[:5]} beyond labels")
        for value in sorted(present):
            image.annotations.append(DatasetAnnotation(labels[value], mask=values == value))
        return image
    instances = record.get("instances")
    if not isinstance(instances, list):
        raise FormatError(f"{where}.instances must be a list")
    ids: dict[int, DatasetAnnotation] = {}
    for j, inst in enumerate(instances):
        loc = f"{where}.instances[{j}]"
        if not isinstance(inst, dict):
            raise FormatError(f"{loc} must be an object")
        iid, label, score = inst.get("id"), inst.get("label"), inst.get("score")
        if isinstance(iid, bool) or not isinstance(iid, int) or not 0 < iid <= 65535 or iid in ids:
            raise FormatError(f"{loc}.id must be a unique integer in 1..65535")
        # A set, built once per file: `in` on the list was instances x labels.
        if not isinstance(label, str) or label not in known:
            raise FormatError(f"{loc}.label {label!r} is not in labels")
        # json.loads takes NaN and Infinity; a stored NaN score would break every JSON answer
        # that lists the annotation.
        if score is not None and (
            isinstance(score, bool)
            or not isinstance(score, int | float)
            or not math.isfinite(score)
        ):
            raise FormatError(f"{loc}.score must be a finite number or null")
        ids[iid] = DatasetAnnotation(
            str(label), mask=values == iid, score=None if score is None else float(score)
        )
    unknown = sorted(present - set(ids))
    if unknown:
        raise FormatError(f"{where}.mask has ids {unknown[:5]} missing from instances")
    image.annotations = [ann for ann in ids.values() if ann.mask is not None and ann.mask.any()]
    return image


def import_masks(source: ZipSource, limits: ZipLimits | None = None) -> Dataset:
    """Import the PNG mask archive (zip path, bytes, file object, or extracted folder).

    Instance mode gives one annotation per id present; semantic mode one per class present.
    Labels in semantic mode drop the leading ``"background"``.
    """
    with as_directory(source, limits) as root:
        try:
            doc = json.loads((root / "labels.json").read_text())
        except FileNotFoundError:
            raise FormatError("labels.json is missing") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FormatError(f"labels.json is not valid JSON: {exc}") from None
        except RecursionError:
            raise FormatError("labels.json is not valid JSON: nested too deeply") from None
        if not isinstance(doc, dict):
            raise FormatError("labels.json must be an object")
        mode, labels, records = doc.get("mode"), doc.get("labels"), doc.get("images")
        if mode not in ("instance", "semantic"):
            raise FormatError("labels.json 'mode' must be 'instance' or 'semantic'")
        if not isinstance(labels, list) or not all(isinstance(n, str) for n in labels):
            raise FormatError("labels.json 'labels' must be a list of names")
        if len(set(labels)) != len(labels):
            raise FormatError("labels.json 'labels' has duplicates")
        if not isinstance(records, list):
            raise FormatError("labels.json 'images' must be a list")
        if mode == "semantic" and labels[:1] != [BACKGROUND]:
            raise FormatError("semantic labels must start with 'background'")
        known = frozenset(labels)
        images = [
            _read_image(root, r, f"images[{i}]", mode, labels, known) for i, r in enumerate(records)
        ]
    return Dataset(labels=labels[1:] if mode == "semantic" else labels, images=images)
