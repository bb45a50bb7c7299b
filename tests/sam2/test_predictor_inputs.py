"""SAM2ImagePredictor's API: misuse raises RuntimeError, bad prompts ValueError, and the
alternative entry points (PIL, normalised coordinates, image batches) agree with the main one."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from annotator.sam2 import SAM2AutomaticMaskGenerator, SAM2Image, SAM2ImagePredictor
from annotator.sam2.transforms import fill_small_regions

POINT = np.array([[120.0, 80.0]])
LABEL = np.array([1])


def test_predict_before_set_image_is_a_runtime_error(sam2_model: SAM2Image) -> None:
    predictor = SAM2ImagePredictor(sam2_model)
    with pytest.raises(RuntimeError, match="set_image"):
        predictor.predict(point_coords=POINT, point_labels=LABEL)
    with pytest.raises(RuntimeError, match="set_image"):
        predictor.get_image_embedding()
    with pytest.raises(RuntimeError, match="set_image"):
        predictor.predict_batch([POINT], [LABEL])


def test_reset_predictor_forgets_the_image(
    sam2_predictors: dict[str, SAM2ImagePredictor], sam2_model: SAM2Image
) -> None:
    predictor = SAM2ImagePredictor(sam2_model)
    predictor._features = sam2_predictors["chelsea"]._features
    predictor._orig_hw = [(300, 451)]
    predictor._is_image_set = True
    predictor.predict(point_coords=POINT, point_labels=LABEL)
    predictor.reset_predictor()
    assert predictor._features is None and predictor._orig_hw is None
    with pytest.raises(RuntimeError):
        predictor.predict(point_coords=POINT, point_labels=LABEL)


@pytest.mark.parametrize(
    ("prompts", "message"),
    [
        ({"point_coords": np.zeros((1, 3)), "point_labels": LABEL}, "point_coords must be"),
        ({"point_coords": POINT, "point_labels": np.array([1, 0])}, "point_labels must have shape"),
        ({"point_coords": POINT}, "point_labels must be supplied"),
        ({"point_labels": LABEL}, "without point_coords"),
        ({"point_coords": np.array([[np.nan, 1.0]]), "point_labels": LABEL}, "NaN"),
        ({"point_coords": POINT, "point_labels": np.array([2])}, "foreground"),
        ({"point_coords": [["a", "b"]], "point_labels": LABEL}, "numeric"),
        ({"box": np.zeros(5)}, "box must be"),
        ({"box": np.zeros((2, 2, 4))}, "box must be"),
        ({"mask_input": np.zeros((1, 64, 64))}, "mask_input must be"),
        ({"mask_input": np.zeros((256, 256))}, "mask_input must be"),
        (
            {
                "point_coords": np.zeros((2, 1, 2)),
                "point_labels": np.ones((2, 1)),
                "box": np.zeros((3, 4)),
            },
            "3 boxes but 2 point sets",
        ),
    ],
)
def test_bad_prompts_are_value_errors(
    sam2_predictors: dict[str, SAM2ImagePredictor], prompts: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        sam2_predictors["chelsea"].predict(**prompts)


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((10, 10, 5), np.uint8),
        np.zeros((0, 10, 3), np.uint8),
        np.zeros((4, 4, 3), np.int64),
    ],
)
def test_bad_images_are_value_errors(sam2_model: SAM2Image, image: np.ndarray) -> None:
    with pytest.raises(ValueError):
        SAM2ImagePredictor(sam2_model).set_image(image)


def test_forward_image_rejects_a_non_square_input(sam2_model: SAM2Image) -> None:
    with pytest.raises(ValueError, match=r"\(B, 3, 1024, 1024\)"):
        sam2_model.forward_image(torch.zeros(1, 3, 512, 1024))


def test_normalized_coordinates_are_fractions_of_the_image(
    sam2_predictors: dict[str, SAM2ImagePredictor],
) -> None:
    predictor = sam2_predictors["chelsea"]
    h, w = 300, 451
    pixels = predictor.predict(point_coords=POINT, point_labels=LABEL, return_logits=True)
    fractions = predictor.predict(
        point_coords=POINT / np.array([w, h]),
        point_labels=LABEL,
        normalize_coords=False,
        return_logits=True,
    )
    for a, b in zip(pixels, fractions, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=0)


def test_box_corners_may_come_in_either_order(
    sam2_predictors: dict[str, SAM2ImagePredictor],
) -> None:
    predictor = sam2_predictors["rocket"]
    ordered = predictor.predict(box=np.array([70.0, 130.0, 220.0, 330.0]), return_logits=True)
    swapped = predictor.predict(box=np.array([220.0, 330.0, 70.0, 130.0]), return_logits=True)
    for a, b in zip(ordered, swapped, strict=True):
        np.testing.assert_array_equal(a, b)


def test_no_prompt_decodes_like_the_reference_empty_query(
    sam2_predictors: dict[str, SAM2ImagePredictor],
) -> None:
    masks, iou, low_res = sam2_predictors["rocket"].predict()
    assert masks.shape == (3, 427, 640) and masks.dtype == np.bool_
    assert iou.shape == (3,) and ((iou >= 0) & (iou <= 1)).all()
    assert low_res.shape == (3, 256, 256) and np.abs(low_res).max() <= 32.0


def test_pil_images_and_image_batches_match_set_image(
    sam2_model: SAM2Image,
    sam2_images: dict[str, np.ndarray],
    sam2_predictors: dict[str, SAM2ImagePredictor],
) -> None:
    single = sam2_predictors["chelsea"]
    from_pil = SAM2ImagePredictor(sam2_model)
    from_pil.set_image(Image.fromarray(sam2_images["chelsea"]))
    assert from_pil._orig_hw == single._orig_hw == [(300, 451)]
    torch.testing.assert_close(from_pil.get_image_embedding(), single.get_image_embedding())

    batch = SAM2ImagePredictor(sam2_model)
    batch.set_image_batch([sam2_images["chelsea"], sam2_images["rocket"]])
    assert batch._orig_hw == [(300, 451), (427, 640)]
    assert batch.get_image_embedding().shape == (2, 256, 64, 64)
    with pytest.raises(RuntimeError, match="predict_batch"):
        batch.predict(point_coords=POINT, point_labels=LABEL)
    masks, ious, low_res = batch.predict_batch([POINT, POINT], [LABEL, LABEL], return_logits=True)
    for i, name in enumerate(("chelsea", "rocket")):
        expected = sam2_predictors[name].predict(POINT, LABEL, return_logits=True)
        assert masks[i].shape == expected[0].shape
        # A batch of two runs other kernels than a batch of one: float noise only.
        np.testing.assert_allclose(ious[i], expected[1], atol=1e-5)
        np.testing.assert_allclose(low_res[i], expected[2], atol=1e-3)


def test_small_holes_and_sprinkles_are_filled_8_connected() -> None:
    logits = torch.full((1, 1, 256, 256), 5.0)
    logits[..., 10:13, 10:13] = -5.0  # a 9-pixel hole
    logits[..., 100:200, 100:200] = -5.0  # a large background region
    logits[..., 150, 150] = 5.0  # a 1-pixel sprinkle inside it
    logits[..., 151, 151] = 5.0  # touching diagonally: one 2-pixel component
    filled = fill_small_regions(logits, 0.0, max_hole_area=9, max_sprinkle_area=2)
    assert (filled[..., 10:13, 10:13] == 10.0).all()
    assert filled[..., 150, 150] == -10.0 and filled[..., 151, 151] == -10.0
    assert (filled[..., 120, 120] == -5.0).all()  # 10,000 pixels: not a hole
    assert fill_small_regions(logits, 0.0, 0.0, 0.0) is logits


def test_mask_to_mask_refinement_runs_in_everything_mode(
    sam2_model: SAM2Image, sam2_images: dict[str, np.ndarray]
) -> None:
    generator = SAM2AutomaticMaskGenerator(
        sam2_model,
        points_per_side=2,
        pred_iou_thresh=0.0,
        stability_score_thresh=0.0,
        use_m2m=True,
        multimask_output=False,
    )
    records = generator.generate(sam2_images["chelsea"])
    assert records and all(r["segmentation"].shape == (300, 451) for r in records)
    assert all(r["area"] == int(r["segmentation"].sum()) for r in records)


def test_everything_mode_rejects_bad_parameters(sam2_model: SAM2Image) -> None:
    with pytest.raises(ValueError, match="Exactly one"):
        SAM2AutomaticMaskGenerator(sam2_model, points_per_side=None)
    with pytest.raises(ValueError, match="output_mode"):
        SAM2AutomaticMaskGenerator(sam2_model, output_mode="polygons")
