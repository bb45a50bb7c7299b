"""YOLO-seg export/import round trips (one line per object, holes filled) and detection boxes."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from PIL import Image

from annotator.formats import Dataset, FormatError
from annotator.formats.yolo import export_yolo_seg, import_yolo_seg, read_yolo_boxes
from tests.formats.helpers import image_bytes, iou, jpeg_bytes, png_bytes, sample_dataset

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


def test_export_writes_data_yaml_images_and_one_normalised_line_per_object() -> None:
    dataset = sample_dataset()
    with zipfile.ZipFile(io.BytesIO(exported(dataset))) as archive:
        names = set(archive.namelist())
        assert {"data.yaml", "README.txt", "images/train/a.png", "images/train/sub/b.png"} <= names
        assert {"labels/train/a.txt", "labels/train/sub/b.txt", "labels/train/empty.txt"} <= names
        doc = yaml.safe_load(archive.read("data.yaml"))
        lines = archive.read("labels/train/a.txt").decode().splitlines()
        assert archive.read("labels/train/empty.txt") == b""
        assert "yolo segment train data=" in archive.read("README.txt").decode()
    # No `path`: Ultralytics then resolves train/val against the yaml's own folder.
    assert doc == {
        "train": "images/train",
        "val": "images/train",
        "names": {0: "cat", 1: "dog", 2: "tree"},
    }
    # The ring is one line (its hole filled), the two-part mask one line too.
    assert [line.split()[0] for line in lines] == ["0", "1"]
    for line in lines:
        coords = [float(v) for v in line.split()[1:]]
        assert len(coords) % 2 == 0 and len(coords) >= 6
        assert min(coords) >= 0.0 and max(coords) <= 1.0


def test_round_trip_gives_one_annotation_per_object_with_holes_filled() -> None:
    original = sample_dataset()
    imported = import_yolo_seg(exported(original))
    assert imported.labels == original.labels
    by_name = {img.file_name: img for img in imported.images}
    assert set(by_name) == {"a.png", "sub/b.png", "empty.png"}
    a = by_name["a.png"]
    assert (a.width, a.height) == (160, 120)
    assert [ann.label for ann in a.annotations] == ["cat", "dog"]
    ring, parts = a.annotations
    source = original.images[0].annotations
    assert source[0].mask is not None and source[1].mask is not None
    # Documented: holes cannot be represented, the ring comes back filled.
    assert ring.polygons is not None and len(ring.polygons) == 1
    assert iou(ring.to_mask(120, 160), filled(source[0].mask)) >= 0.99
    # The two parts were one line and come back as one annotation with both parts.
    assert parts.polygons is not None and len(parts.polygons) == 2
    assert iou(parts.to_mask(120, 160), source[1].mask) >= 0.99
    b = by_name["sub/b.png"]
    for before, after in zip(original.images[1].annotations, b.annotations, strict=True):
        assert after.label == before.label
        assert iou(after.to_mask(90, 100), before.to_mask(90, 100)) >= 0.99
    assert by_name["empty.png"].annotations == []


def test_without_images_the_zip_says_so_and_imports_with_sizes_given(tmp_path: Path) -> None:
    with zipfile.ZipFile(io.BytesIO(exported(sample_dataset(), with_images=False))) as archive:
        assert not [n for n in archive.namelist() if n.startswith("images/")]
        assert "NOT included" in archive.read("README.txt").decode()
        assert "images are NOT in this export" in archive.read("data.yaml").decode()
        archive.extractall(tmp_path)
    sizes = {"a": (160, 120), "b": (100, 90), "empty": (64, 48)}
    dataset = import_yolo_seg(tmp_path, image_sizes=sizes)
    counts = {img.file_name: len(img.annotations) for img in dataset.images}
    assert counts == {"a": 2, "b": 2, "empty": 0}
    with pytest.raises(FormatError, match="no image named a"):
        import_yolo_seg(tmp_path)


def test_images_get_a_suffix_of_their_real_format_and_splits_their_folders() -> None:
    dataset = sample_dataset()
    images = image_bytes(dataset)
    images["a.png"] = jpeg_bytes(160, 120)
    webp = io.BytesIO()
    Image.new("RGB", (100, 90)).save(webp, format="WEBP")
    images["sub/b.png"] = webp.getvalue()
    images["renamed.gif"] = images.pop("empty.png")
    dataset.images[2].file_name = "renamed.gif"
    buf = io.BytesIO()
    export_yolo_seg(dataset, buf, images=images, splits={"sub/b.png": "val"})
    with zipfile.ZipFile(buf) as archive:
        names = set(archive.namelist())
        doc = yaml.safe_load(archive.read("data.yaml"))
    assert {"images/train/a.jpg", "labels/train/a.txt"} <= names
    assert {"images/val/sub/b.webp", "labels/val/sub/b.txt"} <= names
    assert {"images/train/renamed.png", "labels/train/renamed.txt"} <= names
    assert (doc["train"], doc["val"]) == ("images/train", "images/val")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"missing": True}, "no image file given"),
        ({"name": "../evil.png"}, "relative path inside the zip"),
        ({"split": "holdout"}, "split 'holdout'"),
        ({"bytes": b"GIF89a not ours"}, "not a JPEG, PNG, WebP, BMP or TIFF image"),
    ],
)
def test_export_refuses_what_would_not_be_a_usable_dataset(
    change: dict[str, object], message: str
) -> None:
    dataset = sample_dataset()
    images: dict[str, bytes] = image_bytes(dataset)
    if change.get("missing"):
        images.pop("a.png")
    if "bytes" in change:
        images["a.png"] = change["bytes"]  # type: ignore[assignment]
    if "name" in change:
        images[str(change["name"])] = images.pop("a.png")
        dataset.images[0].file_name = str(change["name"])
    splits = {"a.png": str(change["split"])} if "split" in change else None
    with pytest.raises(ValueError, match=message):
        export_yolo_seg(dataset, io.BytesIO(), images=images, splits=splits)


def test_two_images_with_one_label_file_are_refused() -> None:
    dataset = sample_dataset()
    dataset.images[2].file_name = "a.jpg"
    with pytest.raises(ValueError, match="another image has the label file"):
        export_yolo_seg(dataset, io.BytesIO())


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


class CountingImages(dict[str, bytes]):
    """A mapping that counts reads, as a lazy one reading from storage would."""

    reads = 0

    def __getitem__(self, key: str) -> bytes:
        self.reads += 1
        return super().__getitem__(key)


def test_each_image_is_read_once_while_the_zip_is_written() -> None:
    dataset = sample_dataset()
    images = CountingImages(image_bytes(dataset))
    export_yolo_seg(dataset, io.BytesIO(), images=images)
    assert images.reads == len(dataset.images)
