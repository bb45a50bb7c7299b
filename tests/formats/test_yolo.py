"""YOLO-seg export/import round trips (one line per part, holes filled) and detection boxes."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from annotator.formats import Dataset, FormatError
from annotator.formats.yolo import export_yolo_seg, import_yolo_seg, read_yolo_boxes
from tests.formats.helpers import image_bytes, iou, png_bytes, sample_dataset

# pycocotools' Cython decode trips a numpy 2 DeprecationWarning (copy=False) on every call.


def exported(dataset: Dataset, with_images: bool = True) -> bytes:
    buf = io.BytesIO()
    export_yolo_seg(dataset, buf, images=image_bytes(dataset) if with_images else None)
    return buf.getvalue()


def filled(mask: np.ndarray) -> np.ndarray:
    """The mask with its holes filled (what YOLO-seg can represent)."""
    out = np.zeros_like(mask, dtype=np.uint8)
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out, contours, -1, 1, thickness=cv2.FILLED)
    return out.astype(bool)


def test_export_writes_data_yaml_images_and_normalised_label_lines() -> None:
    dataset = sample_dataset()
    with zipfile.ZipFile(io.BytesIO(exported(dataset))) as archive:
        names = set(archive.namelist())
        assert {"data.yaml", "images/a.png", "images/sub/b.png", "labels/a.txt"} <= names
        assert {"labels/sub/b.txt", "labels/empty.txt"} <= names
        doc = yaml.safe_load(archive.read("data.yaml"))
        assert doc["names"] == {0: "cat", 1: "dog", 2: "tree"}
        lines = archive.read("labels/a.txt").decode().splitlines()
        assert archive.read("labels/empty.txt") == b""
    # The ring is one line (its hole dropped), the two-part mask two lines of class 1.
    assert [line.split()[0] for line in lines] == ["0", "1", "1"]
    for line in lines:
        coords = [float(v) for v in line.split()[1:]]
        assert len(coords) % 2 == 0 and len(coords) >= 6
        assert min(coords) >= 0.0 and max(coords) <= 1.0


def test_round_trip_gives_one_annotation_per_part_with_holes_filled() -> None:
    original = sample_dataset()
    imported = import_yolo_seg(exported(original))
    assert imported.labels == original.labels
    by_name = {img.file_name: img for img in imported.images}
    assert set(by_name) == {"a.png", "sub/b.png", "empty.png"}
    a = by_name["a.png"]
    assert (a.width, a.height) == (160, 120)
    assert [ann.label for ann in a.annotations] == ["cat", "dog", "dog"]
    ring, part1, part2 = (ann.to_mask(120, 160) for ann in a.annotations)
    source = original.images[0].annotations
    assert source[0].mask is not None and source[1].mask is not None
    # Documented: holes cannot be represented, the ring comes back filled.
    assert iou(ring, filled(source[0].mask)) >= 0.99
    assert ring[60, 50]
    # Documented: a mask in two parts comes back as two annotations whose union is the mask.
    assert not (part1 & part2).any()
    assert iou(part1 | part2, source[1].mask) >= 0.99
    b = by_name["sub/b.png"]
    for before, after in zip(original.images[1].annotations, b.annotations, strict=True):
        assert after.label == before.label
        assert iou(after.to_mask(90, 100), before.to_mask(90, 100)) >= 0.99
    assert by_name["empty.png"].annotations == []


def test_import_from_a_folder_with_sizes_given_instead_of_images(tmp_path: Path) -> None:
    with zipfile.ZipFile(io.BytesIO(exported(sample_dataset(), with_images=False))) as archive:
        archive.extractall(tmp_path)
    sizes = {"a": (160, 120), "b": (100, 90), "empty": (64, 48)}
    dataset = import_yolo_seg(tmp_path, image_sizes=sizes)
    assert sorted(img.file_name for img in dataset.images) == ["a", "b", "empty"]
    with pytest.raises(FormatError, match="no image named a"):
        import_yolo_seg(tmp_path)


def yolo_zip(label_text: str, names: str = "names: [cat, dog]\n") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("data.yaml", names)
        archive.writestr("images/x.png", png_bytes(40, 20))
        archive.writestr("labels/x.txt", label_text)
        archive.writestr("images/y.png", png_bytes(40, 20))
        archive.writestr("train.txt", "images/x.png\nimages/y.png\n")
    return buf.getvalue()


def test_ultralytics_style_names_list_and_box_lines_are_read() -> None:
    dataset = import_yolo_seg(yolo_zip("1 0.5 0.5 0.5 0.5\n\n0 0 0 1 0 1 1\n"))
    x = next(img for img in dataset.images if img.file_name == "x.png")
    box, poly = x.annotations
    assert box.label == "dog" and box.bbox == [10.0, 5.0, 20.0, 10.0]
    assert poly.label == "cat" and poly.to_mask(20, 40).sum() == 400
    y = next(img for img in dataset.images if img.file_name == "y.png")
    assert y.annotations == [], "an image without a label file is background"


@pytest.mark.parametrize(
    ("labels", "names", "message"),
    [
        ("2 0 0 1 0 1 1\n", "names: [cat, dog]\n", r"labels/x.txt:1: class 2 is not in"),
        ("0 0 0 1 0 1\n", "names: [cat, dog]\n", "needs an even number"),
        ("0 0 0 1 0 1 1 0\n", "names: [cat, dog]\n", "needs an even number"),
        ("0 0 0 12 0 12 12\n", "names: [cat, dog]\n", "normalised to"),
        ("0 0 0 nan 0 1 1\n", "names: [cat, dog]\n", "normalised to"),
        ("cat 0 0 1 0 1 1\n", "names: [cat, dog]\n", "expected 'class x y"),
        ("0 0 0 1 0 1 1\n", "names: [cat, cat]\n", "duplicate class names"),
        ("0 0 0 1 0 1 1\n", "nc: 2\n", "'names' must be"),
        ("0 0 0 1 0 1 1\n", "names: {0: cat, 2: dog}\n", "keys must be 0..n-1"),
        ("0 0 0 1 0 1 1\n", "names: [cat\n", "not valid YAML"),
    ],
)
def test_malformed_yolo_is_refused(labels: str, names: str, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        import_yolo_seg(yolo_zip(labels, names))


def test_not_a_zip_and_missing_data_yaml_are_format_errors(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="not a zip"):
        import_yolo_seg(b"definitely not a zip")
    with pytest.raises(FormatError, match="no data.yaml"):
        import_yolo_seg(tmp_path)
    with pytest.raises(FormatError, match="does not exist"):
        import_yolo_seg(tmp_path / "missing.zip")


def test_detection_labels_become_xyxy_pixel_boxes(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_text("3 0.5 0.25 0.2 0.5\n0 0.1 0.1 0.2 0.2 0.9\n")
    boxes = read_yolo_boxes(path, width=200, height=100)
    assert boxes[0] == (3, pytest.approx([80.0, 0.0, 120.0, 50.0]), 1.0)
    assert boxes[1][0] == 0 and boxes[1][2] == 0.9
    with pytest.raises(FormatError, match="line 1"):
        read_yolo_boxes("0 0.5 0.5 0.1\n", 10, 10)
