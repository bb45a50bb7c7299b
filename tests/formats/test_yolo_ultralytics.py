"""The YOLO-seg export as downloaded, read by Ultralytics' own dataset code from another folder.

Ultralytics is AGPL: a test-only dependency (``make test-ultralytics`` installs it), never one of
the product. Missing, these tests skip on a workstation and fail under ``CI=true``.
"""

from __future__ import annotations

import importlib
import io
import os
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from PIL import Image

from annotator.formats import Dataset, DatasetAnnotation, DatasetImage
from annotator.formats.yolo import export_yolo_seg, import_yolo_seg
from annotator.formats.yolo_segments import outer_rings, split_line
from annotator.geometry import mask_to_rle, polygons_to_mask
from tests.formats.helpers import disc, iou

# YAML would read a bare `no` as false; one label is unused, one not ASCII.
LABELS = ["cat", "dog", "tree", "no", "unused", "oiseau été"]


@pytest.fixture(scope="module")
def ul(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """Ultralytics' dataset functions, its settings kept in a temp folder and offline."""
    config = tmp_path_factory.mktemp("ultralytics-config")
    # check_det_dataset fetches a plotting font on first use; the machine is offline, and the
    # loader never opens it, so a placeholder stands in for the download.
    (config / "Ultralytics").mkdir()
    for font in ("Arial.ttf", "Arial.Unicode.ttf"):
        (config / "Ultralytics" / font).write_bytes(b"")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("YOLO_CONFIG_DIR", str(config))
        env.setenv("YOLO_OFFLINE", "1")
        env.setenv("YOLO_VERBOSE", "False")
        try:
            cfg = importlib.import_module("ultralytics.cfg")
            build = importlib.import_module("ultralytics.data.build")
            utils = importlib.import_module("ultralytics.data.utils")
            converter = importlib.import_module("ultralytics.data.converter")
        except ImportError as exc:
            message = f"ultralytics is not installed ({exc}); `make test-ultralytics` installs it"
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(message)
            pytest.skip(message)
    return SimpleNamespace(
        get_cfg=cfg.get_cfg,
        build_yolo_dataset=build.build_yolo_dataset,
        check_det_dataset=utils.check_det_dataset,
        polygon2mask=utils.polygon2mask,
        load_dataset_cache_file=utils.load_dataset_cache_file,
        merge_multi_segment=converter.merge_multi_segment,
    )


def _picture(width: int, height: int, fmt: str) -> bytes:
    rng = np.random.default_rng(width * height)
    pixels = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format=fmt)
    return buf.getvalue()


def project_dataset() -> tuple[Dataset, dict[str, bytes]]:
    """Images of different sizes and formats, named as the export service names them; objects
    with a hole, in two and three parts, as polygons, and several labels (one unused)."""
    h1, w1 = 240, 320
    ring = disc(h1, w1, 80, 90, 60) & ~disc(h1, w1, 80, 90, 25)
    two_parts = disc(h1, w1, 230, 60, 40) | disc(h1, w1, 250, 180, 45)
    h2, w2 = 180, 260
    three_parts = disc(h2, w2, 50, 50, 35) | disc(h2, w2, 150, 45, 30) | disc(h2, w2, 90, 135, 38)
    bird = disc(h2, w2, 210, 120, 40)
    dataset = Dataset(
        labels=LABELS,
        images=[
            DatasetImage(
                "000001-street.jpg",
                w1,
                h1,
                [
                    DatasetAnnotation("cat", mask=ring),
                    # Stored masks reach the export as RLE (services._project_dataset).
                    DatasetAnnotation("dog", rle=mask_to_rle(two_parts), score=0.9),
                    DatasetAnnotation(
                        "tree",
                        polygons=[{"outer": [[120, 160], [210, 150], [165, 236]], "holes": []}],
                    ),
                ],
            ),
            DatasetImage(
                "000002-park.png",
                w2,
                h2,
                [
                    DatasetAnnotation("dog", mask=three_parts),
                    DatasetAnnotation("no", mask=bird),
                    DatasetAnnotation("oiseau été", mask=disc(h2, w2, 222, 40, 30)),
                ],
            ),
            DatasetImage("000003-empty.png", 64, 48, []),
        ],
    )
    images = {
        "000001-street.jpg": _picture(w1, h1, "JPEG"),
        "000002-park.png": _picture(w2, h2, "PNG"),
        "000003-empty.png": _picture(64, 48, "PNG"),
    }
    return dataset, images


def download(tmp_path: Path) -> tuple[Dataset, Path]:
    """The export zip, extracted where a user would unpack it."""
    dataset, images = project_dataset()
    buf = io.BytesIO()
    export_yolo_seg(dataset, buf, images=images)
    folder = tmp_path / "downloads" / "my project yolo"
    with zipfile.ZipFile(buf) as archive:
        archive.extractall(folder)
    return dataset, folder


def filled_mask(ann: DatasetAnnotation, height: int, width: int) -> np.ndarray:
    """What YOLO-seg can hold of an object: its parts with their holes filled."""
    rings = outer_rings(ann, height, width)
    return np.logical_or.reduce([_corner_fill(r, height, width) for r in rings])


def _corner_fill(ring: np.ndarray, height: int, width: int) -> np.ndarray:
    return polygons_to_mask([{"outer": ring.tolist(), "holes": []}], height, width)


@pytest.mark.parametrize("relative", [False, True], ids=["absolute", "relative"])
def test_ultralytics_loads_the_export_from_another_working_directory(
    ul: SimpleNamespace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, relative: bool
) -> None:
    dataset, folder = download(tmp_path)
    elsewhere = tmp_path / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    monkeypatch.chdir(elsewhere)
    yaml_path = folder / "data.yaml"
    data = ul.check_det_dataset(os.path.relpath(yaml_path) if relative else str(yaml_path))
    assert Path(data["train"]) == (folder / "images" / "train").resolve()
    assert data["names"] == dict(enumerate(LABELS)) and data["nc"] == len(LABELS)

    cfg = ul.get_cfg(overrides={"task": "segment", "imgsz": 320, "overlap_mask": False})
    loaded = ul.build_yolo_dataset(cfg, data["train"], batch=1, data=data, mode="val")
    found, missing, empty, corrupt, total = ul.load_dataset_cache_file(
        folder / "labels" / "train.cache"
    )["results"]
    assert (found, missing, empty, corrupt, total) == (3, 0, 1, 0, 3)

    by_stem = {Path(lb["im_file"]).stem: lb for lb in loaded.labels}
    for image in dataset.images:
        label = by_stem[Path(image.file_name).stem]
        assert label["shape"] == (image.height, image.width)
        expected = [LABELS.index(ann.label) for ann in image.annotations]
        assert label["cls"].ravel().astype(int).tolist() == expected, "one instance per object"
        assert len(label["segments"]) == len(image.annotations)
        for ann, segment in zip(image.annotations, label["segments"], strict=True):
            pixels = segment * (image.width, image.height)
            expected_mask = filled_mask(ann, image.height, image.width)
            # Ultralytics' rasteriser (what training uses) reads vertices as pixel centres, half
            # a pixel off our pixel corners: close; ours from its coordinates: the same pixels.
            drawn = ul.polygon2mask((image.height, image.width), [pixels.reshape(-1)])
            assert iou(drawn.astype(bool), expected_mask) >= 0.95
            exact = polygons_to_mask(
                split_line(pixels.astype(np.float64)), image.height, image.width
            )
            assert iou(exact, expected_mask) >= 0.99

    # The training path proper: a sample's masks, one per object.
    sample: dict[str, Any] = loaded[[Path(f).stem for f in loaded.im_files].index("000002-park")]
    assert sample["cls"].ravel().tolist() == [1, 3, 5]
    assert sample["masks"].shape[0] == 3


def test_a_line_joined_by_ultralytics_converter_imports_as_one_object(
    ul: SimpleNamespace, tmp_path: Path
) -> None:
    dataset, images = project_dataset()
    image = dataset.images[1]
    ann = image.annotations[0]
    rings = outer_rings(ann, image.height, image.width)
    assert len(rings) == 3
    joined = np.concatenate(ul.merge_multi_segment([r.reshape(-1).tolist() for r in rings]))
    coords = " ".join(f"{v:.6f}" for v in (joined / (image.width, image.height)).reshape(-1))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("data.yaml", "names: [cat, dog]\n")
        archive.writestr("images/train/park.png", images[image.file_name])
        archive.writestr("labels/train/park.txt", f"1 {coords}\n")
    (item,) = import_yolo_seg(buf.getvalue()).images
    (imported,) = item.annotations
    assert imported.label == "dog" and imported.polygons is not None
    assert len(imported.polygons) == 3
    mask = imported.to_mask(image.height, image.width)
    assert iou(mask, ann.to_mask(image.height, image.width)) >= 0.99
