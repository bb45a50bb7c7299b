"""auto_annotate on the reference pack's small random-weight SAM and images."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from annotator.autoannotate.detectors import BoxFileDetector, Detection, DetectorError
from annotator.autoannotate.run import (
    EMPTY_LIST,
    Masks,
    auto_annotate,
    default_output_dir,
    read_rgb,
)
from annotator.formats import Dataset, DatasetAnnotation, DatasetImage
from annotator.formats.coco import write_coco
from annotator.geometry import polygons_to_mask
from annotator.sam import SamPredictor, build_sam
from annotator.sam.sam import Sam

# pycocotools' Cython decode trips a numpy 2 DeprecationWarning (copy=False) on every call.


BOXES = {
    # file name, (width, height), [(class, x, y, w, h)]
    "chelsea.png": ((451, 300), [(0, 60.0, 20.0, 250.0, 260.0), (1, 250.0, 40.0, 120.0, 100.0)]),
    "rocket.png": ((640, 427), [(1, 200.0, 10.0, 180.0, 400.0)]),
    "blank.png": ((451, 300), []),
}


@pytest.fixture(scope="module")
def sam(reference_dir: Path) -> Sam:
    return build_sam(reference_dir / "sam_vit_small.pth", device="cpu")


def make_images(
    reference_dir: Path, root: Path, names: tuple[str, ...] = ("chelsea", "rocket")
) -> Path:
    folder = root / "images"
    folder.mkdir()
    for name in names:
        shutil.copy(reference_dir / f"{name}.png", folder / f"{name}.png")
    shutil.copy(reference_dir / "chelsea.png", folder / "blank.png")
    (folder / "notes.md").write_text("not an image")
    return folder


def make_box_file(root: Path) -> Path:
    dataset = Dataset(labels=["cat", "rocket"])
    for name, ((w, h), boxes) in BOXES.items():
        anns = [
            DatasetAnnotation(dataset.labels[c], bbox=[x, y, bw, bh]) for c, x, y, bw, bh in boxes
        ]
        dataset.images.append(DatasetImage(name, w, h, anns))
    path = root / "boxes.json"
    write_coco(dataset, path)
    return path


@pytest.fixture
def images(reference_dir: Path, tmp_path: Path) -> Path:
    """Only rocket.png (one box) and blank.png (none): each encoder run costs ~1 s on CPU."""
    return make_images(reference_dir, tmp_path, names=("rocket",))


@pytest.fixture
def box_file(tmp_path: Path) -> Path:
    return make_box_file(tmp_path)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.count_nonzero(a & b) / max(np.count_nonzero(a | b), 1))


def read_lines(path: Path) -> list[list[float]]:
    return [[float(v) for v in line.split()] for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def first_run(
    sam: Sam, reference_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Masks, list[int]]:
    """One run over the pack's images, recording the boxes of every decoder call."""
    root = tmp_path_factory.mktemp("first_run")
    folder = make_images(reference_dir, root)
    calls: list[int] = []
    original = SamPredictor.predict_torch

    def counting(self: SamPredictor, *args: Any, **kwargs: Any) -> Any:
        boxes = kwargs.get("boxes")
        calls.append(0 if boxes is None else len(boxes))
        return original(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(SamPredictor, "predict_torch", counting)
        results = auto_annotate(
            folder, det_model=make_box_file(root), sam_model=sam, device="cpu", return_masks=True
        )
    assert results is not None
    return folder, results, calls


def filled_parts(mask: np.ndarray) -> list[np.ndarray]:
    """Each 8-connected part of the mask with its holes filled."""
    # Padded so parts touching the image border are closed, as in geometry.mask_to_polygons.
    padded = np.pad(mask.astype(np.uint8), 1)
    contours, _ = cv2.findContours(padded, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    parts = []
    for contour in contours:
        out = np.zeros(padded.shape, np.uint8)
        cv2.drawContours(out, [contour], -1, 1, thickness=cv2.FILLED)
        parts.append(out[1:-1, 1:-1].astype(bool))
    return parts


def test_boxes_from_a_file_prompt_sam_and_give_one_label_line_per_object(
    sam: Sam, first_run: tuple[Path, Masks, list[int]]
) -> None:
    images, results, _ = first_run
    out = images.parent / "images_auto_annotate_labels"
    assert sorted(p.name for p in out.iterdir()) == [EMPTY_LIST, "chelsea.txt", "rocket.txt"]
    assert sorted(p.name for p in results) == ["chelsea.png", "rocket.png"]
    for path, (detections, masks) in results.items():
        (w, h), boxes = BOXES[path.name]
        assert [d.class_id for d in detections] == [b[0] for b in boxes]
        assert [d.box_xyxy for d in detections] == [
            (x, y, x + bw, y + bh) for _, x, y, bw, bh in boxes
        ]
        assert masks.shape == (len(boxes), h, w) and masks.dtype == bool
        lines = read_lines(out / f"{path.stem}.txt")
        assert [int(line[0]) for line in lines] == [b[0] for b in boxes]
        for line, mask in zip(lines, masks, strict=True):
            coords = np.array(line[1:]).reshape(-1, 2)
            assert len(coords) >= 3 and coords.min() >= 0.0 and coords.max() <= 1.0
            ring = (coords * [w, h]).tolist()
            polygon = polygons_to_mask([{"outer": ring, "holes": []}], h, w)
            # Like Ultralytics: the largest part of the mask (random weights make many similar
            # ones), its holes filled.
            parts = filled_parts(mask)
            best = max(parts, key=lambda part: iou(polygon, part))
            assert iou(polygon, best) >= 0.99
            assert best.sum() >= 0.95 * max(part.sum() for part in parts)


def test_masks_are_the_predictors_own_for_the_same_boxes(
    sam: Sam, first_run: tuple[Path, Masks, list[int]]
) -> None:
    _, results, _ = first_run
    predictor = SamPredictor(sam)
    path = next(p for p in results if p.name == "chelsea.png")
    detections, masks = results[path]
    predictor.set_image(read_rgb(path))
    for d, mask in zip(detections, masks, strict=True):
        single, _, _ = predictor.predict(box=np.array(d.box_xyxy), multimask_output=False)
        # A batched matmul may round differently from a single one: allow the odd pixel whose
        # logit sits on the threshold, nothing more.
        assert np.mean(single[0] != mask) < 1e-3


def test_all_boxes_of_an_image_go_to_sam_in_one_batched_call(
    first_run: tuple[Path, Masks, list[int]],
) -> None:
    _, _, calls = first_run
    assert calls == [2, 1]


class CountingDetector:
    def __init__(self, inner: BoxFileDetector) -> None:
        self.inner, self.seen = inner, []  # type: ignore[var-annotated]

    def detect(self, image: np.ndarray, name: str | None = None) -> list[Detection]:
        self.seen.append(name)
        return self.inner.detect(image, name=name)


def test_runs_resume_and_overwrite_redoes_everything(
    sam: Sam, images: Path, box_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "labels"
    first = CountingDetector(BoxFileDetector(box_file))
    auto_annotate(images, det_model=first, sam_model=sam, device="cpu", output_dir=out)
    assert sorted(first.seen) == ["blank.png", "rocket.png"]
    (out / "rocket.txt").unlink()
    resumed = CountingDetector(BoxFileDetector(box_file))
    auto_annotate(images, det_model=resumed, sam_model=sam, device="cpu", output_dir=out)
    assert resumed.seen == ["rocket.png"], "done images, empty ones included, are skipped"
    (out / "rocket.txt").write_text("edited by hand\n")
    auto_annotate(images, det_model=resumed, sam_model=sam, device="cpu", output_dir=out)
    assert resumed.seen == ["rocket.png"]
    assert (out / "rocket.txt").read_text() == "edited by hand\n"
    again = CountingDetector(BoxFileDetector(box_file))
    auto_annotate(
        images, det_model=again, sam_model=sam, device="cpu", output_dir=out, overwrite=True
    )
    assert sorted(again.seen) == ["blank.png", "rocket.png"]
    assert (out / "rocket.txt").read_text() != "edited by hand\n"
    assert not (out / "blank.txt").exists()


def test_yolo_box_folder_single_file_and_class_filter(
    reference_dir: Path, sam: Sam, images: Path, tmp_path: Path
) -> None:
    boxes = tmp_path / "boxes"
    boxes.mkdir()
    (boxes / "rocket.txt").write_text("3 0.45 0.5 0.3 0.9\n5 0.2 0.2 0.1 0.1 0.1\n")
    out = tmp_path / "out"
    results = auto_annotate(
        images / "rocket.png", det_model=boxes, sam_model=sam, device="cpu",
        output_dir=out, conf=0.25, return_masks=True,
    )  # fmt: skip
    assert results is not None
    [(detections, _)] = results.values()
    assert [d.class_id for d in detections] == [3], "the 0.1-confidence box is under conf"
    assert [int(line[0]) for line in read_lines(out / "rocket.txt")] == [3]
    auto_annotate(
        images / "rocket.png", det_model=boxes, sam_model=reference_dir / "sam_vit_small.pth",
        device="cpu", output_dir=tmp_path / "none", classes=[0],
    )  # fmt: skip
    assert list((tmp_path / "none").glob("*.txt")) == []


def test_a_detector_file_that_is_not_a_model_is_a_clear_error(
    sam: Sam, images: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "yolo11n.onnx"
    bad.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(DetectorError, match="not a valid ONNX model"):
        auto_annotate(images, det_model=bad, sam_model=sam, output_dir=tmp_path / "o")
    not_coco = tmp_path / "boxes.json"
    not_coco.write_text('{"images": []}')
    with pytest.raises(DetectorError, match="not a usable COCO box file"):
        auto_annotate(images, det_model=not_coco, sam_model=sam, output_dir=tmp_path / "o")
    monkeypatch.setitem(sys.modules, "ultralytics", None)
    with pytest.raises(ImportError, match=r"pip install sam-annotator\[ultralytics\].*AGPL"):
        auto_annotate(images, det_model="yolo11x.pt", sam_model=sam, output_dir=tmp_path / "o")


def test_the_command_line_takes_the_same_arguments(
    reference_dir: Path, images: Path, box_file: Path, tmp_path: Path
) -> None:
    from annotator.autoannotate.__main__ import main

    out = tmp_path / "cli"
    args = ["--data", str(images), "--det-model", str(box_file), "--device", "cpu"]
    args += ["--sam-model", str(reference_dir / "sam_vit_small.pth"), "--output-dir", str(out)]
    assert main([*args, "--classes", "1", "--max-det", "5"]) == 0
    assert sorted(p.name for p in out.glob("*.txt")) == ["rocket.txt"]
    assert {int(line[0]) for line in read_lines(out / "rocket.txt")} == {1}
    bad = tmp_path / "bad.onnx"
    bad.write_text("nope")
    fresh = str(tmp_path / "fresh")
    assert main(["--data", str(images), "--det-model", str(bad), "--output-dir", fresh]) == 2


def test_importing_the_package_does_not_import_torch() -> None:
    code = (
        "import sys, annotator.autoannotate, annotator.autoannotate.detectors, annotator.formats,"
        " annotator.formats.coco, annotator.formats.yolo, annotator.formats.masks, annotator.geometry;"
        " assert 'torch' not in sys.modules, 'torch imported';"
        " from annotator.autoannotate import auto_annotate; assert 'torch' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


def test_default_output_dir_follows_ultralytics(tmp_path: Path) -> None:
    folder = tmp_path.resolve() / "imgs"
    image = folder / "a.png"
    assert default_output_dir(folder, []) == folder.parent / "imgs_auto_annotate_labels"
    assert default_output_dir(image, [image]) == folder / "a_auto_annotate_labels"
    assert default_output_dir([image], [image]) == folder.parent / "imgs_auto_annotate_labels"


def test_batched_embeddings_give_the_same_masks(
    sam: Sam,
    first_run: tuple[Path, Masks, list[int]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The CUDA path (the segmenter's batched features, then set_features), forced on CPU."""
    import annotator.autoannotate.run as run
    from annotator.segmenters import Sam1Segmenter

    folder, expected, _ = first_run
    encoded: list[int] = []
    original = Sam1Segmenter.features

    def counting(self: Sam1Segmenter, images: list[np.ndarray], *, batch_size: int) -> Any:
        encoded.append(len(images))
        return original(self, images, batch_size=batch_size)

    monkeypatch.setattr(run, "use_batched_encoder", lambda segmenter: True)
    monkeypatch.setattr(Sam1Segmenter, "features", counting)
    results = auto_annotate(
        folder, det_model=folder.parent / "boxes.json", sam_model=sam, device="cpu",
        output_dir=tmp_path / "batched", batch_size=4, return_masks=True,
    )  # fmt: skip
    assert encoded == [2], "both images with boxes in one encoder call; blank.png not encoded"
    assert results is not None and results.keys() == expected.keys()
    for path, (_, masks) in results.items():
        assert np.mean(masks != expected[path][1]) < 1e-3
