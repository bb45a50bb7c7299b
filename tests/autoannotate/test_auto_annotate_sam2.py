"""auto_annotate with SAM 2.1, named as Ultralytics names it (``sam2.1_t.pt``): the alias stands
for Meta's ``sam2.1_hiera_tiny.pt``, here the SAM 2.1 pack's small model cached under that
name (random weights; nothing is downloaded)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from annotator.autoannotate.run import SAM_ALIASES, auto_annotate, read_rgb
from annotator.sam2 import SAM2ImagePredictor, build_sam2
from tests.autoannotate.test_auto_annotate import BOXES, iou, make_box_file, make_images

PACK_MODEL = "sam2.1_hiera_mini.pt"


@pytest.mark.parametrize("short", ["t", "s", "b", "l"])
def test_ultralytics_sam2_names_are_aliases_of_metas_files(short: str) -> None:
    size = {"t": "tiny", "s": "small", "b": "base_plus", "l": "large"}[short]
    assert SAM_ALIASES[f"sam2.1_{short}.pt"] == f"sam2.1_hiera_{size}.pt"


@pytest.mark.slow
def test_auto_annotate_takes_sam2_1_t_pt_and_segments_each_box_with_sam2(
    reference_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pack = reference_dir / "sam2"
    if not (pack / PACK_MODEL).is_file():
        pytest.skip(f"SAM 2.1 reference pack not found at {pack}")
    cache = tmp_path / "cache"
    cache.mkdir()
    shutil.copy(pack / PACK_MODEL, cache / "sam2.1_hiera_tiny.pt")
    monkeypatch.setenv("SAM_CACHE_DIR", str(cache))
    folder = make_images(reference_dir, tmp_path, names=("chelsea",))
    results = auto_annotate(
        folder, det_model=make_box_file(tmp_path), sam_model="sam2.1_t.pt", device="cpu",
        output_dir=tmp_path / "labels", return_masks=True,
    )  # fmt: skip
    assert results is not None
    chelsea = folder / "chelsea.png"
    detections, masks = results[chelsea]
    assert len(detections) == len(BOXES["chelsea.png"][1]) == masks.shape[0]
    lines = (tmp_path / "labels" / "chelsea.txt").read_text().splitlines()
    assert [int(line.split()[0]) for line in lines] == [d.class_id for d in detections]

    predictor = SAM2ImagePredictor(build_sam2(pack / PACK_MODEL))
    predictor.set_image(read_rgb(chelsea))
    for detection, mask in zip(detections, masks, strict=True):
        want, _, _ = predictor.predict(box=np.array(detection.box_xyxy), multimask_output=False)
        assert iou(mask, want[0]) >= 0.99
