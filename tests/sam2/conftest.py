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
from annotator.sam2.predictor import Prediction
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


def feature_arrays(predictor: SAM2ImagePredictor) -> dict[str, torch.Tensor]:
    features = predictor._features
    assert features is not None
    return {
        "image_embed": features["image_embed"],
        "high_res_feats_0": features["high_res_feats"][0],
        "high_res_feats_1": features["high_res_feats"][1],
    }


def mask_input_for(case: dict[str, Any], goldens: dict[str, np.ndarray], image: str) -> Any:
    """The pack's rule: feed the stored low-res logits of an earlier case, not our own."""
    if "use_mask_input_from" not in case:
        return None
    source = goldens[f"{image}/{case['use_mask_input_from']}/low_res_logits"]
    return source[case["mask_input_index"]][None]


def run_case(
    predictor: SAM2ImagePredictor, case: dict[str, Any], goldens: dict[str, np.ndarray], image: str
) -> Prediction:
    """One pack case through the predictor's own prompt preparation and decoding."""
    prompts = predictor._prep_prompts(
        case.get("point_coords"),
        case.get("point_labels"),
        case.get("box"),
        mask_input_for(case, goldens, image),
        normalize_coords=True,
    )
    return predictor._predict(
        *prompts, multimask_output=case["multimask_output"], return_logits=True
    )


def prediction_arrays(prediction: Prediction, *, batched: bool) -> dict[str, np.ndarray]:
    """Our outputs under the goldens' names and shapes (single cases drop the batch axis)."""
    pick = (lambda t: t) if batched else (lambda t: t[0])
    return {
        "mask_logits": pick(prediction.masks).numpy(),
        "iou_predictions": pick(prediction.iou_predictions).numpy(),
        "low_res_logits": pick(prediction.low_res_masks).numpy(),
        "sparse_embeddings": prediction.sparse_embeddings.numpy(),
        "object_score_logits": prediction.object_score_logits.numpy(),
    }


@pytest.fixture(scope="session")
def port_outputs(
    sam2_predictors: dict[str, SAM2ImagePredictor],
    sam2_goldens: dict[str, np.ndarray],
    sam2_model_meta: dict[str, Any],
) -> dict[str, np.ndarray]:
    """Every golden's counterpart from our port, under the goldens' key names (OUTPUTS.npz)."""
    outputs: dict[str, np.ndarray] = {}
    for image in PACK_IMAGES:
        predictor = sam2_predictors[image]
        for feature, tensor in feature_arrays(predictor).items():
            outputs[f"{image}/{feature}"] = tensor.numpy()
        for case in sam2_model_meta["images"][image]["cases"]:
            arrays = prediction_arrays(
                run_case(predictor, case, sam2_goldens, image), batched=False
            )
            outputs.update({f"{image}/{case['name']}/{k}": v for k, v in arrays.items()})
        boxes = sam2_goldens[f"{image}/batched_boxes/boxes"]
        prompts = predictor._prep_prompts(None, None, boxes, None, normalize_coords=True)
        result = predictor._predict(*prompts, multimask_output=False, return_logits=True)
        arrays = prediction_arrays(result, batched=True)
        outputs.update({f"{image}/batched_boxes/{k}": v for k, v in arrays.items()})
    return outputs
