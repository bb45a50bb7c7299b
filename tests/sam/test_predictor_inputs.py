"""SamPredictor input validation and conversions (documented in SamPredictor's docstring)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from annotator.sam import Sam, SamPredictor
from annotator.sam.predictor import to_rgb_uint8


@pytest.fixture
def predictor(pack_models: dict[str, Sam], goldens: dict[str, Any]) -> SamPredictor:
    predictor = SamPredictor(pack_models["sam_vit_small"])
    predictor.set_image_embedding(goldens["sam_vit_small"]["chelsea/embedding"], (300, 451))
    return predictor


def test_grayscale_images_are_repeated_to_three_channels() -> None:
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    expected = np.repeat(gray[:, :, None], 3, axis=2)
    np.testing.assert_array_equal(to_rgb_uint8(gray), expected)
    np.testing.assert_array_equal(to_rgb_uint8(gray[:, :, None]), expected)


def test_rgba_images_drop_alpha_and_16_bit_images_scale_to_8_bits() -> None:
    rgba = np.random.default_rng(0).integers(0, 256, (5, 6, 4), dtype=np.uint8)
    np.testing.assert_array_equal(to_rgb_uint8(rgba), rgba[:, :, :3])
    deep = np.full((2, 2, 3), 65535, dtype=np.uint16)
    converted = to_rgb_uint8(deep)
    assert converted.dtype == np.uint8 and (converted == 255).all()


def test_bgr_input_is_flipped_to_rgb() -> None:
    bgr = np.zeros((2, 2, 3), dtype=np.uint8)
    bgr[..., 0] = 7
    assert (to_rgb_uint8(bgr, "BGR")[..., 2] == 7).all()


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((4, 4, 2), dtype=np.uint8),
        np.zeros((4, 4, 5), dtype=np.uint8),
        np.zeros((1, 4, 4, 3), dtype=np.uint8),
        np.zeros((0, 4, 3), dtype=np.uint8),
        np.zeros((4, 4, 3), dtype=np.int64),
        np.full((4, 4, 3), 2.0),
        [[1, 2], [3, 4]],
    ],
    ids=[
        "two-channels",
        "five-channels",
        "batched",
        "empty",
        "int64",
        "float-out-of-range",
        "list",
    ],
)
def test_unsupported_images_are_a_value_error(image: Any, pack_models: dict[str, Sam]) -> None:
    with pytest.raises(ValueError):
        SamPredictor(pack_models["sam_vit_small"]).set_image(image)


def test_a_grayscale_image_encodes_like_its_rgb_version(
    pack_models: dict[str, Sam], pack_images: dict[str, np.ndarray]
) -> None:
    gray = pack_images["chelsea"][:64, :96, 1]
    predictor = SamPredictor(pack_models["sam_vit_small"])
    predictor.set_image(gray)
    from_gray = predictor.get_image_embedding().clone()
    predictor.set_image(np.repeat(gray[:, :, None], 3, axis=2))
    torch.testing.assert_close(from_gray, predictor.get_image_embedding(), atol=0, rtol=0)
    assert predictor.original_size == (64, 96)


def test_predicting_before_an_image_is_set_is_a_runtime_error(pack_models: dict[str, Sam]) -> None:
    predictor = SamPredictor(pack_models["sam_vit_small"])
    with pytest.raises(RuntimeError, match="set_image"):
        predictor.predict(point_coords=np.array([[1.0, 2.0]]), point_labels=np.array([1]))
    with pytest.raises(RuntimeError):
        predictor.get_image_embedding()


def test_an_empty_prompt_decodes_the_no_prompt_query_like_the_reference(
    predictor: SamPredictor,
) -> None:
    masks, iou, low_res = predictor.predict()
    assert masks.shape == (3, 300, 451) and masks.dtype == bool
    assert iou.shape == (3,) and low_res.shape == (3, 256, 256)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_coordinates_are_a_value_error(predictor: SamPredictor, bad: float) -> None:
    with pytest.raises(ValueError, match="NaN or infinite"):
        predictor.predict(point_coords=np.array([[bad, 10.0]]), point_labels=np.array([1]))
    with pytest.raises(ValueError, match="NaN or infinite"):
        predictor.predict(box=np.array([0.0, 0.0, bad, 10.0]))


def test_mismatched_points_and_labels_are_a_value_error(predictor: SamPredictor) -> None:
    with pytest.raises(ValueError, match="labels"):
        predictor.predict(
            point_coords=np.array([[1.0, 2.0], [3.0, 4.0]]), point_labels=np.array([1])
        )
    with pytest.raises(ValueError, match="point_labels"):
        predictor.predict(point_coords=np.array([[1.0, 2.0]]))


def test_a_box_with_swapped_corners_is_normalised(predictor: SamPredictor) -> None:
    normal = predictor.predict(box=np.array([50.0, 40.0, 200.0, 180.0]), return_logits=True)
    swapped = predictor.predict(box=np.array([200.0, 180.0, 50.0, 40.0]), return_logits=True)
    for a, b in zip(normal, swapped, strict=True):
        np.testing.assert_array_equal(a, b)


def test_points_outside_the_image_are_passed_to_the_model(predictor: SamPredictor) -> None:
    masks, iou, _ = predictor.predict(
        point_coords=np.array([[-20.0, 500.0]]), point_labels=np.array([1])
    )
    assert masks.shape == (3, 300, 451) and np.isfinite(iou).all()


def test_a_stored_fp16_embedding_decodes_like_the_fp32_one(
    predictor: SamPredictor, goldens: dict[str, Any]
) -> None:
    prompt = {"point_coords": np.array([[200.0, 100.0]]), "point_labels": np.array([1])}
    _, iou32, low32 = predictor.predict(**prompt)
    half = torch.as_tensor(goldens["sam_vit_small"]["chelsea/embedding"]).half()
    predictor.set_image_embedding(half, (300, 451))
    assert predictor.get_image_embedding().dtype == torch.float32
    _, iou16, low16 = predictor.predict(**prompt)
    np.testing.assert_allclose(iou16, iou32, atol=1e-2)
    assert np.mean((low16 > 0) == (low32 > 0)) > 0.99


@pytest.mark.parametrize(
    "embedding", [np.zeros((1, 256, 32, 32), np.float32), np.zeros((1, 256, 64, 64), np.int32)]
)
def test_an_embedding_of_the_wrong_shape_or_dtype_is_a_value_error(
    predictor: SamPredictor, embedding: np.ndarray
) -> None:
    with pytest.raises(ValueError, match="embedding"):
        predictor.set_image_embedding(embedding, (300, 451))
