"""COCO export (pycocotools loads and evaluates it) and strict import."""

from __future__ import annotations

import copy
import io
import json
from typing import Any

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from annotator.formats import FormatError
from annotator.formats.coco import from_coco, read_coco, to_coco, write_coco
from tests.formats.helpers import iou, ring_mask, sample_dataset

# pycocotools' Cython decode trips a numpy 2 DeprecationWarning (copy=False) on every call.


def load_in_pycocotools(data: dict[str, Any]) -> COCO:
    coco = COCO()
    coco.dataset = copy.deepcopy(data)
    coco.createIndex()
    return coco


@pytest.mark.parametrize("use_rle", [False, True])
@pytest.mark.parametrize("iou_type", ["segm", "bbox"])
def test_export_evaluates_against_itself_at_ap_one(use_rle: bool, iou_type: str) -> None:
    data = to_coco(sample_dataset(), use_rle=use_rle)
    gt = load_in_pycocotools(data)
    results = [
        {
            "image_id": a["image_id"],
            "category_id": a["category_id"],
            "segmentation": gt.annToRLE(a),
            "bbox": a["bbox"],
            "score": 1.0,
        }
        for a in data["annotations"]
    ]
    evaluator = COCOeval(gt, gt.loadRes(results), iou_type)
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    assert evaluator.stats[0] == pytest.approx(1.0)


def test_export_uses_polygons_except_for_masks_with_holes() -> None:
    data = to_coco(sample_dataset())
    kinds = [type(a["segmentation"]).__name__ for a in data["annotations"]]
    assert kinds == ["dict", "list", "list", "list"]
    assert isinstance(data["annotations"][0]["segmentation"]["counts"], str)
    assert [len(a["segmentation"]) for a in data["annotations"][1:]] == [2, 1, 1]
    assert {a["iscrowd"] for a in data["annotations"]} == {0}
    assert [c["name"] for c in data["categories"]] == ["cat", "dog", "tree"]
    ring = data["annotations"][0]
    assert ring["area"] == int(ring_mask().sum())
    assert ring["bbox"] == [11.0, 21.0, 79.0, 79.0]
    assert data["annotations"][1]["score"] == 0.75
    json.dumps(data)


@pytest.mark.parametrize("use_rle", [False, True])
def test_export_then_import_gives_the_same_annotations(use_rle: bool) -> None:
    original = sample_dataset()
    buf = io.BytesIO()
    write_coco(original, buf, use_rle=use_rle)
    imported = read_coco(buf.getvalue())
    assert imported.labels == original.labels
    assert [i.file_name for i in imported.images] == [i.file_name for i in original.images]
    for before, after in zip(original.images, imported.images, strict=True):
        assert (after.width, after.height) == (before.width, before.height)
        assert [a.label for a in after.annotations] == [a.label for a in before.annotations]
        for a, b in zip(before.annotations, after.annotations, strict=True):
            mask_a = a.to_mask(before.height, before.width)
            assert iou(mask_a, b.to_mask(after.height, after.width)) >= 0.99
            assert b.score == a.score
    hole = imported.images[0].annotations[0].to_mask(120, 160)
    assert not hole[60, 50], "the hole survives the round trip"


def valid() -> dict[str, Any]:
    return {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 20, "height": 10}],
        "categories": [{"id": 7, "name": "cat"}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 7,
                "segmentation": [[1, 1, 8, 1, 8, 8]],
                "bbox": [1, 1, 7, 7],
            },
            {
                "id": 2,
                "image_id": 1,
                "category_id": 7,
                "segmentation": {"size": [10, 20], "counts": [200]},
            },
            {"id": 3, "image_id": 1, "category_id": 7, "bbox": [0, 0, 5, 5]},
        ],
    }


def test_valid_file_imports_polygons_rle_and_boxes() -> None:
    dataset = from_coco(valid())
    [image] = dataset.images
    assert dataset.labels == ["cat"]
    poly, rle, box = image.annotations
    assert poly.polygons is not None and poly.polygons[0]["outer"][0] == [1.0, 1.0]
    assert rle.rle is not None and not rle.to_mask(10, 20).any()
    assert not box.has_geometry and box.to_mask(10, 20).sum() == 25


def broken(path: str, value: Any) -> dict[str, Any]:
    """`valid()` with the item at a dotted path replaced (or deleted when value is ...)."""
    data = valid()
    *parents, last = path.split(".")
    node: Any = data
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    if value is ...:
        del node[int(last) if last.isdigit() else last]
    else:
        node[int(last) if last.isdigit() else last] = value
    return data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "must be a JSON object"),
        (broken("images", ...), "missing 'images'"),
        (broken("categories", {}), r"categories must be list, got dict"),
        (broken("images.0", "a.jpg"), r"images\[0\] must be an object"),
        (broken("images.0.width", "20"), r"images\[0\].width must be int"),
        (broken("images.0.height", 0), r"images\[0\].height must be positive"),
        (broken("images.0.id", True), "must not be a boolean"),
        (broken("images.0.file_name", "../../etc/passwd"), "relative path"),
        (broken("categories.0.name", ...), r"categories\[0\] is missing 'name'"),
        (broken("annotations.0.image_id", 2), r"annotations\[0\].image_id 2 does not match"),
        (broken("annotations.2.category_id", 1), r"annotations\[2\].category_id 1 does not"),
        (broken("annotations.0.segmentation", [[1, 1, 8, 1, 8]]), "even number"),
        (broken("annotations.0.segmentation", [[1, 1, 8, 1, "x", 8]]), "non-numeric"),
        (broken("annotations.0.segmentation", [[1, 1, 80, 1, 8, 8]]), "outside the 20x10"),
        (broken("annotations.0.segmentation", "1 1 8 1 8 8"), "list of polygons or an RLE"),
        (broken("annotations.0.bbox", [1, 1, 7]), r"annotations\[0\].bbox must be a list of 4"),
        (broken("annotations.1.segmentation.size", [20, 10]), "not the image's"),
        (broken("annotations.1.segmentation.counts", [199]), "add up to 199"),
        (broken("annotations.2.bbox", ...), "neither a segmentation nor a bbox"),
        (broken("annotations.2.score", float("nan")), "non-finite"),
    ],
)
def test_malformed_coco_is_refused_with_a_precise_message(data: Any, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        from_coco(data)


def test_duplicate_ids_are_refused() -> None:
    data = valid()
    data["images"].append(dict(data["images"][0]))
    with pytest.raises(FormatError, match=r"images\[1\].id 1 is used twice"):
        from_coco(data)


@pytest.mark.parametrize("raw", [b"{not json", b"\xff\xfe", b""])
def test_a_file_that_is_not_json_is_a_format_error(raw: bytes) -> None:
    with pytest.raises(FormatError, match="not a valid COCO JSON"):
        read_coco(raw)


def test_a_bad_last_annotation_imports_nothing(tmp_path: Any) -> None:
    data = valid()
    data["annotations"].append({"id": 9, "image_id": 1, "category_id": 99, "bbox": [0, 0, 1, 1]})
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(data))
    result = None
    with pytest.raises(FormatError, match=r"annotations\[3\]"):
        result = read_coco(path)
    assert result is None


def test_export_refuses_annotations_with_unknown_labels() -> None:
    dataset = sample_dataset()
    dataset.labels.remove("tree")
    with pytest.raises(ValueError, match="'tree' not in"):
        to_coco(dataset)


def test_masks_are_exported_from_their_exact_pixels() -> None:
    dataset = sample_dataset()
    data = to_coco(dataset, use_rle=True)
    gt = load_in_pycocotools(data)
    for ann, original in zip(data["annotations"][:2], dataset.images[0].annotations, strict=True):
        assert original.mask is not None
        assert np.array_equal(gt.annToMask(ann).astype(bool), original.mask)
