"""SAM 2.1 parity with Meta's reference on the pack: features, every prompt case, batched boxes.

Tolerances come from the pack's manifest.json; each assertion reports the worst |diff| / bound.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from annotator.sam2 import SAM2ImagePredictor
from annotator.sam2.predictor import Prediction

from .conftest import PACK_IMAGES, tolerance_for, worst_ratio

FEATURES = ("image_embed", "high_res_feats_0", "high_res_feats_1")
CASES = (
    "point_multimask",
    "point_single",
    "points_pos_neg",
    "box_only",
    "box_points",
    "point_with_mask_input",
)
OUTPUTS = (
    "mask_logits",
    "iou_predictions",
    "low_res_logits",
    "sparse_embeddings",
    "object_score_logits",
)


def feature_arrays(predictor: SAM2ImagePredictor) -> dict[str, torch.Tensor]:
    features = predictor._features
    assert features is not None
    return {
        "image_embed": features["image_embed"],
        "high_res_feats_0": features["high_res_feats"][0],
        "high_res_feats_1": features["high_res_feats"][1],
    }


def case_by_name(model_meta: dict[str, Any], image: str, name: str) -> dict[str, Any]:
    case: dict[str, Any] = next(
        c for c in model_meta["images"][image]["cases"] if c["name"] == name
    )
    return case


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


@pytest.mark.parametrize("image", PACK_IMAGES)
@pytest.mark.parametrize("feature", FEATURES)
def test_set_image_features_match_the_reference(
    image: str,
    feature: str,
    sam2_predictors: dict[str, SAM2ImagePredictor],
    sam2_goldens: dict[str, np.ndarray],
    sam2_tolerances: dict[str, Any],
) -> None:
    actual = feature_arrays(sam2_predictors[image])[feature]
    golden = sam2_goldens[f"{image}/{feature}"]
    assert actual.dtype == torch.float32
    ratio = worst_ratio(actual.numpy(), golden, sam2_tolerances[feature])
    assert ratio <= 1.0, f"{image}/{feature}: worst |diff| is {ratio:.2f}x the bound"


def test_original_size_is_recorded_like_the_reference(
    sam2_predictors: dict[str, SAM2ImagePredictor], sam2_goldens: dict[str, np.ndarray]
) -> None:
    for image in PACK_IMAGES:
        assert sam2_predictors[image]._orig_hw == [tuple(sam2_goldens[f"{image}/orig_hw"])]


@pytest.mark.parametrize("image", PACK_IMAGES)
@pytest.mark.parametrize("case_name", CASES)
def test_prompt_case_matches_the_reference(
    image: str,
    case_name: str,
    sam2_predictors: dict[str, SAM2ImagePredictor],
    sam2_goldens: dict[str, np.ndarray],
    sam2_tolerances: dict[str, Any],
    sam2_model_meta: dict[str, Any],
) -> None:
    case = case_by_name(sam2_model_meta, image, case_name)
    arrays = prediction_arrays(
        run_case(sam2_predictors[image], case, sam2_goldens, image), batched=False
    )
    for kind in OUTPUTS:
        golden = sam2_goldens[f"{image}/{case_name}/{kind}"]
        ratio = worst_ratio(arrays[kind], golden, tolerance_for(sam2_tolerances, kind, golden))
        assert ratio <= 1.0, f"{image}/{case_name}/{kind}: {ratio:.2f}x the bound"
    golden_logits = sam2_goldens[f"{image}/{case_name}/mask_logits"]
    agreement = float(np.mean((arrays["mask_logits"] > 0) == (golden_logits > 0)))
    assert agreement >= sam2_tolerances["mask_logits"]["sign_agreement_min"]


@pytest.mark.parametrize("image", PACK_IMAGES)
def test_batched_boxes_match_the_reference(
    image: str,
    sam2_predictors: dict[str, SAM2ImagePredictor],
    sam2_goldens: dict[str, np.ndarray],
    sam2_tolerances: dict[str, Any],
) -> None:
    boxes = sam2_goldens[f"{image}/batched_boxes/boxes"]
    masks, iou, low_res = sam2_predictors[image].predict(
        box=boxes, multimask_output=False, return_logits=True
    )
    public = {"mask_logits": masks, "iou_predictions": iou, "low_res_logits": low_res}
    prompts = sam2_predictors[image]._prep_prompts(None, None, boxes, None, True)
    internal = prediction_arrays(
        sam2_predictors[image]._predict(*prompts, multimask_output=False, return_logits=True),
        batched=True,
    )
    for kind in OUTPUTS:
        golden = sam2_goldens[f"{image}/batched_boxes/{kind}"]
        actual = public.get(kind, internal[kind])
        ratio = worst_ratio(actual, golden, tolerance_for(sam2_tolerances, kind, golden))
        assert ratio <= 1.0, f"{image}/batched_boxes/{kind}: {ratio:.2f}x the bound"


@torch.inference_mode()
def test_single_mask_choice_follows_the_reference_fallback(
    sam2_predictors: dict[str, SAM2ImagePredictor],
    sam2_goldens: dict[str, np.ndarray],
    sam2_model_meta: dict[str, Any],
) -> None:
    """The pack records which token each single-mask case returned (0 or a fallback 2/3)."""
    chosen = []
    for image in PACK_IMAGES:
        predictor = sam2_predictors[image]
        for case in sam2_model_meta["images"][image]["cases"]:
            if case["multimask_output"]:
                continue
            prompts = predictor._prep_prompts(
                case.get("point_coords"),
                case.get("point_labels"),
                case.get("box"),
                mask_input_for(case, sam2_goldens, image),
                True,
            )
            features = predictor._features
            assert features is not None
            points = predictor._concat_box_points(*prompts[:3])
            sparse, dense = predictor.model.sam_prompt_encoder(points, None, prompts[3])
            all_masks, all_iou, _ = predictor.model.sam_mask_decoder.predict_masks(
                features["image_embed"],
                predictor.model.sam_prompt_encoder.get_dense_pe(),
                sparse,
                dense,
                features["high_res_feats"],
            )
            stability = predictor.model.sam_mask_decoder.stability_scores(all_masks[:, :1])
            token = 0 if stability.item() >= 0.98 else int(all_iou[0, 1:].argmax()) + 1
            assert token == case["single_mask_token"][0], (image, case["name"])
            chosen.append(token)
    # The pack exercises token 0 and both kinds of fallback.
    assert {0, 2, 3} <= set(chosen)
