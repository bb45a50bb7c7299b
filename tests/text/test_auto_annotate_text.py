"""auto_annotate(text=[...]) and its command line on tiny random text models."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from annotator.autoannotate.run import auto_annotate
from annotator.sam.sam import Sam
from annotator.text import TextModelUnavailable, TextPromptError


@pytest.fixture
def images(reference_dir: Path, tmp_path: Path, image: np.ndarray) -> Path:
    import cv2

    folder = tmp_path / "images"
    folder.mkdir()
    cv2.imwrite(str(folder / "crop.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return folder


# Each runs a text model and the SAM encoder and decoder on CPU.
pytestmark = pytest.mark.slow


def read_lines(path: Path) -> list[list[float]]:
    return [[float(v) for v in line.split()] for line in path.read_text().splitlines()]


def test_phrases_with_sam3_give_one_label_line_per_instance_with_the_phrase_index(
    sam3_folder: Path, small_sam: Sam, images: Path, tmp_path: Path
) -> None:
    out = tmp_path / "labels"
    results = auto_annotate(
        images, det_model=sam3_folder, sam_model=small_sam, device="cpu", conf=0.25,
        output_dir=out, return_masks=True, text=["cup", "red mug"],
    )  # fmt: skip
    assert results is not None
    [(detections, masks)] = results.values()
    assert 0 < len(detections) == len(masks)
    assert {d.class_id for d in detections} <= {0, 1}
    lines = read_lines(out / "crop.txt")
    assert 0 < len(lines) <= len(detections), "one line per instance whose mask is not empty"
    assert {int(line[0]) for line in lines} <= {0, 1}
    for line in lines:
        coords = np.array(line[1:]).reshape(-1, 2)
        assert len(coords) >= 3 and coords.min() >= 0.0 and coords.max() <= 1.0


def test_phrases_with_a_detector_prompt_sam_and_classes_pick_phrases(
    owlv2_folder: Path, small_sam: Sam, images: Path, tmp_path: Path
) -> None:
    out = tmp_path / "labels"
    results = auto_annotate(
        images, det_model=owlv2_folder, sam_model=small_sam, device="cpu", conf=0.1,
        max_det=2, classes=[1], output_dir=out, return_masks=True, text=["cup", "red mug"],
    )  # fmt: skip
    assert results is not None
    [(detections, masks)] = results.values()
    assert 0 < len(detections) <= 2 and {d.class_id for d in detections} == {1}
    assert masks.shape == (len(detections), 70, 130)
    assert {int(line[0]) for line in read_lines(out / "crop.txt")} == {1}


def test_bad_phrases_and_a_missing_text_model_fail_before_any_work(
    small_sam: Sam, images: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "o"
    with pytest.raises(TextPromptError, match="phrase 0 is empty"):
        auto_annotate(images, det_model="x", sam_model=small_sam, output_dir=out, text=[""])
    with pytest.raises(TextPromptError, match="1000 phrases"):
        auto_annotate(images, sam_model=small_sam, output_dir=out, text=["cup"] * 1000)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(
        TextModelUnavailable, match="hf download google/owlv2-base-patch16-ensemble"
    ):
        auto_annotate(images, sam_model=small_sam, output_dir=out, text=["cup"])
    assert not list(out.glob("*.txt"))


def test_the_command_line_takes_repeated_text_options(
    owlv2_folder: Path, reference_dir: Path, images: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    from annotator.autoannotate.__main__ import main

    out = tmp_path / "cli"
    args = ["--data", str(images), "--det-model", str(owlv2_folder), "--device", "cpu"]
    args += ["--sam-model", str(reference_dir / "sam_vit_small.pth"), "--output-dir", str(out)]
    assert (
        main([*args, "--conf", "0.1", "--max-det", "1", "--text", "cup", "--text", "red mug"]) == 0
    )
    assert sorted(p.name for p in out.iterdir()) == ["crop.txt"]
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    fresh = ["--data", str(images), "--output-dir", str(tmp_path / "fresh"), "--text", "cup"]
    assert main(fresh) == 2
    assert "hf download" in capsys.readouterr().err
    shutil.rmtree(tmp_path / "fresh", ignore_errors=True)


def test_a_detector_object_with_text_is_refused(
    small_sam: Sam, images: Path, tmp_path: Path
) -> None:
    from annotator.autoannotate.detectors import BoxFileDetector

    boxes = tmp_path / "boxes"
    boxes.mkdir()
    with pytest.raises(ValueError, match="with text, det_model names a text model"):
        auto_annotate(
            images, det_model=BoxFileDetector(boxes), sam_model=small_sam,
            output_dir=tmp_path / "o", text=["cup"],
        )  # fmt: skip
