"""Fixtures for the SAM 2 package tests: the mini model of the SAM 2.1 parity pack, built once.

The pack is `reference/sam2/` inside the reference folder that `tests/conftest.py` locates
(`../shared/reference` or `$SAM_REFERENCE_DIR`); as there, a missing pack skips locally and
fails under CI=true.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from annotator.sam2 import SAM2Image, SAM2ImagePredictor, build_sam2
from tests.conftest import in_ci

PACK_MODEL = "sam2.1_hiera_mini"
PACK_IMAGES = ("chelsea", "rocket")
OFFICIAL_SIZES = ("tiny", "small", "base_plus", "large")


@pytest.fixture(scope="session")
def sam2_pack(reference_dir: Path) -> Path:
    path = reference_dir / "sam2"
    if not (path / "manifest.json").is_file():
        message = f"SAM 2.1 reference pack not found at {path} (set SAM_REFERENCE_DIR)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def sam2_manifest(sam2_pack: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((sam2_pack / "manifest.json").read_text())
    return manifest


@pytest.fixture(scope="session")
def sam2_tolerances(sam2_manifest: dict[str, Any]) -> dict[str, Any]:
    tolerances: dict[str, Any] = sam2_manifest["tolerances"]
    return tolerances


@pytest.fixture(scope="session")
def sam2_model_meta(sam2_manifest: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = sam2_manifest["models"][PACK_MODEL]
    return meta


@pytest.fixture(scope="session")
def sam2_model(sam2_pack: Path) -> SAM2Image:
    torch.set_num_threads(max(1, torch.get_num_threads()))
    return build_sam2(sam2_pack / f"{PACK_MODEL}.pt")


@pytest.fixture(scope="session")
def sam2_goldens(sam2_pack: Path) -> dict[str, np.ndarray]:
    return dict(np.load(sam2_pack / f"{PACK_MODEL}_goldens.npz"))


@pytest.fixture(scope="session")
def sam2_images(sam2_pack: Path) -> dict[str, np.ndarray]:
    return {
        name: np.array(Image.open(sam2_pack / f"{name}.png").convert("RGB")) for name in PACK_IMAGES
    }


@pytest.fixture(scope="session")
def sam2_predictors(
    sam2_model: SAM2Image, sam2_images: dict[str, np.ndarray]
) -> dict[str, SAM2ImagePredictor]:
    """One predictor per pack image, `set_image` already run."""
    predictors = {}
    for name, image in sam2_images.items():
        predictor = SAM2ImagePredictor(sam2_model)
        predictor.set_image(image)
        predictors[name] = predictor
    return predictors


def worst_ratio(
    actual: np.ndarray | torch.Tensor, golden: np.ndarray, tolerance: dict[str, float]
) -> float:
    """max |actual - golden| / (atol + rtol * |golden|), elementwise as the pack's checker."""
    actual = np.asarray(actual, dtype=np.float64)
    assert actual.shape == golden.shape, f"shape {actual.shape} != golden {golden.shape}"
    reference = golden.astype(np.float64)
    bound = tolerance["atol"] + tolerance["rtol"] * np.abs(reference)
    return float((np.abs(actual - reference) / bound).max())


def tolerance_for(tolerances: dict[str, Any], kind: str, golden: np.ndarray) -> dict[str, Any]:
    """The manifest's tolerance entry for a golden kind (low-res logits depend on the dtype)."""
    key = f"{kind} ({golden.dtype})" if kind == "low_res_logits" else kind
    entry: dict[str, Any] = tolerances[key]
    return entry
