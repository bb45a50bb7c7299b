"""SAM 2.1 parity with Meta's reference on the pack: features, every prompt case, batched boxes.

Tolerances come from the pack's manifest.json; each assertion reports the worst |diff| / bound.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from annotator.sam2 import SAM2ImagePredictor

from .conftest import PACK_IMAGES, feature_arrays, mask_input_for, tolerance_for, worst_ratio

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
@pytest.mark.parametrize("case_name", [*CASES, "batched_boxes"])
def test_prompt_case_matches_the_reference(
    image: str,
    case_name: str,
    port_outputs: dict[str, np.ndarray],
    sam2_goldens: dict[str, np.ndarray],
    sam2_tolerances: dict[str, Any],
) -> None:
    for kind in OUTPUTS:
        key = f"{image}/{case_name}/{kind}"
        golden = sam2_goldens[key]
        ratio = worst_ratio(port_outputs[key], golden, tolerance_for(sam2_tolerances, kind, golden))
        assert ratio <= 1.0, f"{key}: worst |diff| is {ratio:.2f}x the bound"
    key = f"{image}/{case_name}/mask_logits"
    agreement = float(np.mean((port_outputs[key] > 0) == (sam2_goldens[key] > 0)))
    assert agreement >= sam2_tolerances["mask_logits"]["sign_agreement_min"]


def test_public_predict_returns_the_batched_boxes_outputs(
    sam2_predictors: dict[str, SAM2ImagePredictor],
    port_outputs: dict[str, np.ndarray],
    sam2_goldens: dict[str, np.ndarray],
) -> None:
    """`predict(box=(3, 4) array)` keeps the batch axis: (3, 1, h, w), (3, 1), (3, 1, 256, 256)."""
    boxes = sam2_goldens["rocket/batched_boxes/boxes"]
    masks, iou, low_res = sam2_predictors["rocket"].predict(
        box=boxes, multimask_output=False, return_logits=True
    )
    assert masks.shape == (3, 1, 427, 640) and iou.shape == (3, 1)
    assert low_res.shape == (3, 1, 256, 256) and low_res.dtype == np.float32
    np.testing.assert_array_equal(masks, port_outputs["rocket/batched_boxes/mask_logits"])
    np.testing.assert_array_equal(iou, port_outputs["rocket/batched_boxes/iou_predictions"])
    bits, _, _ = sam2_predictors["rocket"].predict(box=boxes, multimask_output=False)
    assert bits.dtype == np.bool_
    np.testing.assert_array_equal(bits, masks > 0.0)


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
