"""Prompt encoder + mask decoder parity with Meta's reference, from the stored embeddings."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from annotator.sam import Sam, SamPredictor
from annotator.sam.onnx_wrapper import SamOnnxModel
from annotator.sam.transforms import ResizeLongestSide

from .conftest import (
    IOU_ATOL,
    LOW_RES_ATOL,
    PACK_IMAGES,
    PACK_MODELS,
    assert_mask_logits_match,
)


def _cases(manifest: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (model, image, case)
        for model in PACK_MODELS
        for image in PACK_IMAGES
        for case in manifest["models"][model]["images"][image]["cases"]
    ]


def _predictor_from_embedding(
    models: dict[str, Sam], goldens: dict[str, Any], model: str, image: str, shape: tuple[int, int]
) -> SamPredictor:
    predictor = SamPredictor(models[model])
    predictor.set_image_embedding(goldens[model][f"{image}/embedding"], shape)
    return predictor


@pytest.mark.parametrize("model", PACK_MODELS)
@pytest.mark.parametrize("image", PACK_IMAGES)
def test_every_prompt_case_matches_the_reference_from_the_stored_embedding(
    model: str,
    image: str,
    reference_manifest: dict[str, Any],
    pack_models: dict[str, Sam],
    goldens: dict[str, Any],
) -> None:
    info = reference_manifest["models"][model]["images"][image]
    gold = goldens[model]
    predictor = _predictor_from_embedding(
        pack_models, goldens, model, image, (info["height"], info["width"])
    )
    assert predictor.input_size == tuple(gold[f"{image}/input_size"])
    for case in info["cases"]:
        kwargs: dict[str, Any] = {}
        if "point_coords" in case:
            kwargs["point_coords"] = np.array(case["point_coords"])
            kwargs["point_labels"] = np.array(case["point_labels"])
        if "box" in case:
            kwargs["box"] = np.array(case["box"])
        if "use_mask_input_from" in case:
            kwargs["mask_input"] = gold[f"{image}/{model}/{case['name']}/mask_input"]
        masks, iou, low_res = predictor.predict(
            multimask_output=case["multimask_output"], return_logits=True, **kwargs
        )
        key = f"{image}/{case['name']}"
        assert_mask_logits_match(masks, gold[f"{key}/mask_logits"])
        np.testing.assert_allclose(iou, gold[f"{key}/iou_predictions"], atol=IOU_ATOL, rtol=0)
        np.testing.assert_allclose(
            low_res, gold[f"{key}/low_res_logits"], atol=LOW_RES_ATOL, rtol=0
        )


@pytest.mark.parametrize("model", PACK_MODELS)
@pytest.mark.parametrize("image", PACK_IMAGES)
def test_three_boxes_decoded_at_once_match_the_reference(
    model: str,
    image: str,
    reference_manifest: dict[str, Any],
    pack_models: dict[str, Sam],
    goldens: dict[str, Any],
) -> None:
    info = reference_manifest["models"][model]["images"][image]
    gold = goldens[model]
    shape = (info["height"], info["width"])
    predictor = _predictor_from_embedding(pack_models, goldens, model, image, shape)
    boxes = torch.as_tensor(gold[f"{image}/batched_boxes/boxes"])
    boxes = predictor.transform.apply_boxes_torch(boxes, shape)
    masks, iou, _ = predictor.predict_torch(
        None, None, boxes=boxes, multimask_output=False, return_logits=True
    )
    assert_mask_logits_match(masks.numpy(), gold[f"{image}/batched_boxes/mask_logits"])
    np.testing.assert_allclose(
        iou.numpy(), gold[f"{image}/batched_boxes/iou_predictions"], atol=IOU_ATOL, rtol=0
    )


def _onnx_inputs(
    gold: dict[str, Any], image: str, shape: tuple[int, int]
) -> tuple[torch.Tensor, ...]:
    return (
        torch.as_tensor(gold[f"{image}/embedding"]),
        torch.as_tensor(gold[f"{image}/onnx_ref/point_coords_transformed"]),
        torch.as_tensor(gold[f"{image}/onnx_ref/point_labels"]),
        torch.zeros(1, 1, 256, 256),
        torch.zeros(1),
        torch.tensor(shape, dtype=torch.float32),
    )


@pytest.mark.parametrize("model", PACK_MODELS)
@pytest.mark.parametrize("image", PACK_IMAGES)
def test_onnx_wrapper_in_torch_matches_the_reference_onnx_wrapper(
    model: str,
    image: str,
    reference_manifest: dict[str, Any],
    pack_models: dict[str, Sam],
    goldens: dict[str, Any],
) -> None:
    info = reference_manifest["models"][model]["images"][image]
    gold = goldens[model]
    wrapper = SamOnnxModel(pack_models[model], return_single_mask=True)
    masks, iou, low_res = wrapper(*_onnx_inputs(gold, image, (info["height"], info["width"])))
    ref = f"{image}/onnx_ref"
    assert_mask_logits_match(masks.numpy(), gold[f"{ref}/masks"])
    np.testing.assert_allclose(iou.numpy(), gold[f"{ref}/iou_predictions"], atol=IOU_ATOL, rtol=0)
    np.testing.assert_allclose(
        low_res.numpy(), gold[f"{ref}/low_res_masks"], atol=LOW_RES_ATOL, rtol=0
    )


def test_onnx_wrapper_traced_on_one_image_size_is_correct_for_another(
    reference_manifest: dict[str, Any], pack_models: dict[str, Sam], goldens: dict[str, Any]
) -> None:
    gold = goldens["sam_vit_small"]
    sizes = {
        image: (info["height"], info["width"])
        for image, info in reference_manifest["models"]["sam_vit_small"]["images"].items()
    }
    wrapper = SamOnnxModel(pack_models["sam_vit_small"], return_single_mask=True)
    with torch.no_grad():
        traced = torch.jit.trace(
            wrapper, _onnx_inputs(gold, "chelsea", sizes["chelsea"]), check_trace=False
        )
        masks, _, _ = traced(*_onnx_inputs(gold, "rocket", sizes["rocket"]))
    assert tuple(masks.shape[-2:]) == sizes["rocket"]
    assert_mask_logits_match(masks.numpy(), gold["rocket/onnx_ref/masks"])


def test_onnx_wrapper_picks_the_single_mask_token_for_two_real_points(
    pack_models: dict[str, Sam], goldens: dict[str, Any]
) -> None:
    model = pack_models["sam_vit_small"]
    wrapper = SamOnnxModel(model, return_single_mask=True)
    embedding = torch.as_tensor(goldens["sam_vit_small"]["chelsea/embedding"])
    coords = torch.tensor([[[100.0, 200.0], [300.0, 250.0], [0.0, 0.0]]])
    labels = torch.tensor([[1.0, 0.0, -1.0]])
    _, iou, low_res = wrapper(
        embedding,
        coords,
        labels,
        torch.zeros(1, 1, 256, 256),
        torch.zeros(1),
        torch.tensor([300.0, 451.0]),
    )
    sparse, dense = model.prompt_encoder((coords[:, :2], labels[:, :2].int()), None, None)
    expected, expected_iou = model.mask_decoder(
        embedding, model.prompt_encoder.get_dense_pe(), sparse, dense, False
    )
    torch.testing.assert_close(low_res, expected, atol=1e-4, rtol=0)
    torch.testing.assert_close(iou, expected_iou, atol=1e-5, rtol=0)


def test_transform_rounds_the_longest_side_resize_half_up() -> None:
    assert ResizeLongestSide.get_preprocess_shape(300, 451, 1024) == (681, 1024)
    assert ResizeLongestSide.get_preprocess_shape(427, 640, 1024) == (683, 1024)
    assert ResizeLongestSide.get_preprocess_shape(2048, 1024, 1024) == (1024, 512)
