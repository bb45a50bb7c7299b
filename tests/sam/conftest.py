"""Fixtures for the SAM package tests: models built once per session from the parity pack."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from annotator.sam import Sam, build_sam

PACK_MODELS = ("sam_vit_small", "mobile_sam")
PACK_IMAGES = ("chelsea", "rocket")

# Tolerances from the pack README (an exact CPU fp32 port reaches them).
EMBEDDING_ATOL = 1e-3
MASK_LOGITS_ATOL = 2e-2
MASK_SIGN_AGREEMENT = 0.999
IOU_ATOL = 2e-3
LOW_RES_ATOL = 2e-3


@pytest.fixture(scope="session", autouse=True)
def _torch_threads() -> None:
    torch.set_num_threads(max(1, torch.get_num_threads()))


# The MobileSAM reference caches its attention biases at `.eval()` and its builder calls `.eval()`
# before loading weights: until something calls `.eval()` again it runs with the initial zero
# biases. The pack's chelsea outputs were produced in that state, its rocket outputs after the
# cache was refreshed (checked: each matches to 5e-6 only in its own mode, and the two differ by
# 5e-3). Our default uses the trained biases; these cases switch them off to reproduce the pack.
STALE_BIAS_CASES = {("mobile_sam", "chelsea")}


@contextmanager
def reference_quirks(model: Sam, model_name: str, image: str) -> Iterator[None]:
    """Reproduce the reference's state for one (model, image) of the pack."""
    stale = (model_name, image) in STALE_BIAS_CASES
    if stale:
        model.image_encoder.set_attention_biases(False)
    try:
        yield
    finally:
        if stale:
            model.image_encoder.set_attention_biases(True)


def load_pack_model(reference_dir: Path, name: str) -> Sam:
    return build_sam(reference_dir / f"{name}.pth", device="cpu")


@pytest.fixture(scope="session")
def pack_models(reference_dir: Path) -> dict[str, Sam]:
    return {name: load_pack_model(reference_dir, name) for name in PACK_MODELS}


@pytest.fixture(scope="session")
def goldens(reference_dir: Path) -> dict[str, Any]:
    return {name: dict(np.load(reference_dir / f"{name}_goldens.npz")) for name in PACK_MODELS}


@pytest.fixture(scope="session")
def pack_images(reference_dir: Path) -> dict[str, np.ndarray]:
    return {
        name: np.array(Image.open(reference_dir / f"{name}.png").convert("RGB"))
        for name in PACK_IMAGES
    }


def assert_mask_logits_match(actual: np.ndarray, expected: np.ndarray) -> None:
    expected = expected.astype(np.float32)
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, atol=MASK_LOGITS_ATOL, rtol=0)
    agreement = np.mean((actual > 0) == (expected > 0))
    assert agreement >= MASK_SIGN_AGREEMENT
