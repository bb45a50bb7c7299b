"""Exports shared by the export_onnx tests: each reference checkpoint is exported once per
session. sam_vit_small goes through the real CLI (``python -m export_onnx``, with ``--quantize
--encoder``), mobile_sam through `run_export`, so both entry points run end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from annotator.sam2 import SAM2ImagePredictor
from tests.conftest import REPO_ROOT
from tests.sam2 import conftest as sam2_conftest
from tests.sam2.conftest import PACK_MODEL, feature_arrays

# The SAM 2.1 pack's fixtures (tests/sam2/conftest.py), registered here for the SAM 2 export
# tests by binding them in this conftest's namespace.
sam2_pack = sam2_conftest.sam2_pack
sam2_manifest = sam2_conftest.sam2_manifest
sam2_tolerances = sam2_conftest.sam2_tolerances
sam2_model = sam2_conftest.sam2_model
sam2_goldens = sam2_conftest.sam2_goldens
sam2_images = sam2_conftest.sam2_images
sam2_predictors = sam2_conftest.sam2_predictors

MODELS = ["sam_vit_small", "mobile_sam"]


@pytest.fixture(scope="session")
def exports(reference_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Model name -> export directory."""
    from export_onnx.export import run_export

    root = tmp_path_factory.mktemp("onnx_exports")
    out = {name: root / name for name in MODELS}
    cli = subprocess.run(
        [
            sys.executable, "-m", "export_onnx",
            "--checkpoint", str(reference_dir / "sam_vit_small.pth"),
            "--out", str(out["sam_vit_small"]), "--quantize", "--encoder", "--quiet", "--prompts", "6",
        ],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert cli.returncode == 0, f"export CLI failed:\n{cli.stderr[-4000:]}"
    run_export(
        reference_dir / "mobile_sam.pth", out["mobile_sam"], quantize_int8=True, num_prompts=6
    )
    return out


@pytest.fixture(scope="session")
def goldens(reference_dir: Path) -> dict[str, Any]:
    """Model name -> the pack's goldens (npz, loaded lazily)."""
    return {name: np.load(reference_dir / f"{name}_goldens.npz") for name in MODELS}


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two boolean masks (1 when both are empty)."""
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def manifest_cases(
    reference_manifest: dict[str, Any], model: str
) -> list[tuple[str, dict[str, Any]]]:
    """(image, case) for every prompt case of a model in the pack's manifest."""
    images = reference_manifest["models"][model]["images"]
    return [(img, case) for img, info in images.items() for case in info["cases"]]


@pytest.fixture(scope="session")
def sam2_export(sam2_pack: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sam2_onnx") / "export"
    cli = subprocess.run(
        [sys.executable, "-m", "export_onnx", "--checkpoint", str(sam2_pack / f"{PACK_MODEL}.pt"),
         "--out", str(out), "--quiet", "--prompts", "6"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert cli.returncode == 0, f"export CLI failed:\n{cli.stderr[-4000:]}"
    return out


@pytest.fixture(scope="session")
def sam2_features(
    sam2_predictors: dict[str, SAM2ImagePredictor],
) -> dict[str, dict[str, np.ndarray]]:
    return {
        name: {k: v.numpy() for k, v in feature_arrays(p).items()}
        for name, p in sam2_predictors.items()
    }
