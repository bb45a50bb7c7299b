"""The pack's own checker (`check_parity.py`) agrees, and everything-mode records match.

The port's outputs are written as the OUTPUTS.npz and AMG files the checker documents, then the
checker runs in a subprocess: its exit status and summary line are the verdict.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from annotator.sam2 import SAM2AutomaticMaskGenerator, SAM2Image

from .conftest import PACK_IMAGES, PACK_MODEL

# Exactly the generator of the pack's AMG goldens (README, "Files").
PACK_AMG_PARAMS: dict[str, Any] = {
    "output_mode": "coco_rle",
    "points_per_side": 6,
    "points_per_batch": 32,
    "pred_iou_thresh": -100,
    "stability_score_thresh": 0.0,
    "box_nms_thresh": 1.0,
    "crop_n_layers": 0,
    "multimask_output": True,
}


def run_checker(pack: Path, outputs: Path, amg_dir: Path | None = None) -> tuple[int, str]:
    command = [sys.executable, str(pack / "check_parity.py"), str(pack), str(outputs)]
    if amg_dir is not None:
        command += ["--amg-dir", str(amg_dir)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    return done.returncode, done.stdout + done.stderr


@pytest.fixture(scope="session")
def outputs_npz(
    port_outputs: dict[str, np.ndarray], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    path = tmp_path_factory.mktemp("sam2_parity") / "OUTPUTS.npz"
    np.savez(path, **{k: v.astype(np.float32) for k, v in port_outputs.items()})
    return path


@pytest.fixture(scope="session")
def amg_records(
    sam2_model: SAM2Image, sam2_images: dict[str, np.ndarray]
) -> dict[str, list[dict[str, Any]]]:
    generator = SAM2AutomaticMaskGenerator(sam2_model, **PACK_AMG_PARAMS)
    return {image: generator.generate(sam2_images[image]) for image in PACK_IMAGES}


def reference_records(pack: Path, image: str) -> list[dict[str, Any]]:
    raw = gzip.decompress((pack / f"{PACK_MODEL}_{image}_amg.json.gz").read_bytes())
    records: list[dict[str, Any]] = json.loads(raw)["masks"]
    return records


def test_pack_checker_accepts_the_port_arrays(sam2_pack: Path, outputs_npz: Path) -> None:
    status, report = run_checker(sam2_pack, outputs_npz)
    assert status == 0, report
    assert "SAM 2.1 parity holds" in report
    # Optional goldens are compared too, not skipped.
    assert "skipped" not in report


def test_pack_checker_rejects_a_near_miss(
    sam2_pack: Path, port_outputs: dict[str, np.ndarray], tmp_path: Path
) -> None:
    """The checker is not vacuous here: clamping the full-size logits (a documented near miss)
    fails it."""
    broken = dict(port_outputs)
    key = "rocket/point_multimask/mask_logits"  # its logits reach 34, beyond the +-32 clamp
    broken[key] = np.clip(port_outputs[key], -32.0, 32.0)
    path = tmp_path / "OUTPUTS.npz"
    np.savez(path, **broken)
    status, report = run_checker(sam2_pack, path)
    assert status == 1 and "FAILS" in report, report


@pytest.mark.slow
def test_automatic_masks_match_the_reference_records(
    sam2_pack: Path,
    amg_records: dict[str, list[dict[str, Any]]],
    sam2_tolerances: dict[str, Any],
) -> None:
    from pycocotools import mask as mask_utils

    tol = sam2_tolerances["amg"]
    for image in PACK_IMAGES:
        ours, ref = amg_records[image], reference_records(sam2_pack, image)
        assert len(ours) == len(ref) == 108
        # An exact port keeps the reference's order (NMS order by predicted IoU).
        assert [r["point_coords"] for r in ours] == [r["point_coords"] for r in ref]
        for a, b in zip(ref, ours, strict=True):
            assert set(b) == set(a)
            iou = mask_utils.iou([b["segmentation"]], [a["segmentation"]], [0])[0][0]
            assert iou >= tol["mask_iou_min"]
            assert abs(a["predicted_iou"] - b["predicted_iou"]) <= tol["predicted_iou_atol"]
            assert abs(a["stability_score"] - b["stability_score"]) <= tol["stability_score_atol"]
            assert max(abs(p - q) for p, q in zip(a["bbox"], b["bbox"], strict=True)) <= 1
            assert b["crop_box"] == a["crop_box"] and b["area"] == mask_utils.area(
                b["segmentation"]
            )


@pytest.mark.slow
def test_pack_checker_accepts_the_port_arrays_and_automatic_masks(
    sam2_pack: Path,
    outputs_npz: Path,
    amg_records: dict[str, list[dict[str, Any]]],
    tmp_path: Path,
) -> None:
    for image, records in amg_records.items():
        (tmp_path / f"{PACK_MODEL}_{image}_amg.json").write_text(json.dumps({"masks": records}))
    status, report = run_checker(sam2_pack, outputs_npz, amg_dir=tmp_path)
    assert status == 0, report
    assert "amg chelsea same order True" in report and "amg rocket same order True" in report
