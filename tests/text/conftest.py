"""Tiny random text models saved to folders once per session, and the reference pack's SAM."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from annotator.sam import SamPredictor, build_sam
from annotator.sam.sam import Sam
from tests.text.tiny_models import save_grounding_dino, save_owlv2, save_sam3


@pytest.fixture(scope="session")
def sam3_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_sam3(tmp_path_factory.mktemp("sam3"))


@pytest.fixture(scope="session")
def owlv2_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_owlv2(tmp_path_factory.mktemp("owlv2"))


@pytest.fixture(scope="session")
def grounding_dino_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_grounding_dino(tmp_path_factory.mktemp("grounding_dino"))


@pytest.fixture(scope="session")
def small_sam(reference_dir: Path) -> Sam:
    return build_sam(reference_dir / "sam_vit_small.pth", device="cpu")


@pytest.fixture
def predictor(small_sam: Sam) -> SamPredictor:
    return SamPredictor(small_sam)


@pytest.fixture(scope="session")
def image(reference_dir: Path) -> np.ndarray:
    """A non-square crop of the pack's cat (70 x 130), so a swapped height/width shows."""
    import cv2

    bgr = cv2.imread(str(reference_dir / "chelsea.png"), cv2.IMREAD_COLOR)
    return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)[40:110, 100:230])
