"""PNG mask export/import: instance ids (16-bit past 255 objects) and semantic classes."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from annotator.formats import Dataset, DatasetAnnotation, DatasetImage, FormatError
from annotator.formats.masks import export_masks, import_masks
from tests.formats.helpers import iou, sample_dataset

# pycocotools' Cython decode trips a numpy 2 DeprecationWarning (copy=False) on every call.


def exported(dataset: Dataset, mode: str = "instance") -> bytes:
    buf = io.BytesIO()
    export_masks(dataset, buf, mode=mode)  # type: ignore[arg-type]
    return buf.getvalue()


def test_instance_masks_round_trip_with_holes_parts_labels_and_scores() -> None:
    original = sample_dataset()
    imported = import_masks(exported(original))
    assert imported.labels == original.labels
    for before, after in zip(original.images, imported.images, strict=True):
        assert (after.file_name, after.width, after.height) == (
            before.file_name,
            before.width,
            before.height,
        )
        assert [a.label for a in after.annotations] == [a.label for a in before.annotations]
        for a, b in zip(before.annotations, after.annotations, strict=True):
            assert (
                iou(a.to_mask(before.height, before.width), b.to_mask(after.height, after.width))
                >= 0.99
            )
            assert b.score == a.score
    ring = imported.images[0].annotations[0].to_mask(120, 160)
    assert not ring[60, 50], "the hole survives"


def test_overlapping_instances_keep_the_later_object_on_shared_pixels() -> None:
    first, second = np.zeros((10, 10), bool), np.zeros((10, 10), bool)
    first[2:6, 2:6], second[4:8, 4:8] = True, True
    dataset = Dataset(["a"], [DatasetImage("x.png", 10, 10, [DatasetAnnotation("a", mask=first)])])
    dataset.images[0].annotations.append(DatasetAnnotation("a", mask=second))
    a, b = import_masks(exported(dataset)).images[0].annotations
    assert np.array_equal(b.mask, second)
    assert np.array_equal(a.mask, first & ~second)


def test_more_than_255_instances_use_a_16_bit_png() -> None:
    annotations = []
    for k in range(300):
        mask = np.zeros((40, 80), bool)
        mask.flat[k * 10 : k * 10 + 10] = True
        annotations.append(DatasetAnnotation("cell", mask=mask))
    dataset = Dataset(["cell"], [DatasetImage("many.tif", 80, 40, annotations)])
    data = exported(dataset)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        png = Image.open(io.BytesIO(archive.read("masks/many.png")))
        assert png.mode.startswith("I") and int(np.asarray(png).max()) == 300
    imported = import_masks(data)
    assert len(imported.images[0].annotations) == 300
    for a, b in zip(annotations, imported.images[0].annotations, strict=True):
        assert np.array_equal(a.mask, b.mask)


def test_semantic_masks_hold_class_indices_with_a_palette() -> None:
    original = sample_dataset()
    data = exported(original, mode="semantic")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        doc = json.loads(archive.read("labels.json"))
        png = Image.open(io.BytesIO(archive.read("masks/a.png")))
    assert doc["labels"] == ["background", "cat", "dog", "tree"]
    assert png.mode == "P"
    values = np.asarray(png)
    assert set(np.unique(values).tolist()) == {0, 1, 2}
    imported = import_masks(data)
    assert imported.labels == original.labels
    a = imported.images[0]
    assert [ann.label for ann in a.annotations] == ["cat", "dog"]
    source = original.images[0].annotations
    assert np.array_equal(a.annotations[1].to_mask(120, 160), source[1].to_mask(120, 160))


def archive_with(doc: object, masks: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("labels.json", json.dumps(doc))
        for name, data in (masks or {}).items():
            archive.writestr(name, data)
    return buf.getvalue()


def png(values: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(values.astype(np.uint8), mode="L").save(buf, format="PNG")
    return buf.getvalue()


def record(**extra: object) -> dict[str, object]:
    base: dict[str, object] = {"file_name": "a.jpg", "mask": "masks/a.png", "width": 4, "height": 3}
    base["instances"] = [{"id": 1, "label": "cat", "score": None}]
    base.update(extra)
    return base


MASK = np.array([[0, 1, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]])


@pytest.mark.parametrize(
    ("doc", "masks", "message"),
    [
        ([], {}, "must be an object"),
        ({"mode": "panoptic", "labels": [], "images": []}, {}, "'mode'"),
        ({"mode": "instance", "labels": "cat", "images": []}, {}, "'labels'"),
        (
            {"mode": "instance", "labels": ["cat"], "images": [record(mask="masks/zz.png")]},
            {},
            "not a file",
        ),
        (
            {"mode": "instance", "labels": ["cat"], "images": [record(mask="../a.png")]},
            {},
            "not a file",
        ),
        (
            {"mode": "instance", "labels": ["cat"], "images": [record(width=5)]},
            {"masks/a.png": png(MASK)},
            "expected 5x3",
        ),
        (
            {"mode": "instance", "labels": ["dog"], "images": [record()]},
            {"masks/a.png": png(MASK)},
            "not in labels",
        ),
        (
            {"mode": "instance", "labels": ["cat"], "images": [record()]},
            {"masks/a.png": png(MASK * 2)},
            "ids \\[2\\] missing",
        ),
        (
            {"mode": "instance", "labels": ["cat"], "images": [record()]},
            {"masks/a.png": b"no png"},
            "not a readable PNG",
        ),
        (
            {"mode": "semantic", "labels": ["background", "cat"], "images": [record()]},
            {"masks/a.png": png(MASK * 3)},
            "beyond labels",
        ),
        (
            {"mode": "semantic", "labels": ["cat"], "images": [record()]},
            {"masks/a.png": png(MASK)},
            "start with 'background'",
        ),
    ],
)
def test_malformed_mask_archives_are_refused(
    doc: object, masks: dict[str, bytes], message: str
) -> None:
    with pytest.raises(FormatError, match=message):
        import_masks(archive_with(doc, masks))


def test_missing_labels_json_and_not_a_zip_are_format_errors() -> None:
    with pytest.raises(FormatError, match="labels.json is missing"):
        import_masks(archive_with({}, {}).replace(b"labels.json", b"labels.jsox"))
    with pytest.raises(FormatError, match="not a zip"):
        import_masks(b"\x89PNG not a zip")
