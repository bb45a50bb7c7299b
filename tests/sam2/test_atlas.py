"""The SAM 2.1 hover atlas on the pack's model: each cell holds the page's hover choice for its
centre (one positive point, multimask, the best-scored of tokens 1-3), decoded as the
predictor decodes it; the format and the grid are SAM 1's (tests/sam/test_atlas.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from annotator.sam.atlas import NO_MASK, cell_centres, grid_shape
from annotator.sam2 import SAM2ImagePredictor
from annotator.sam2.atlas import compute_atlas, compute_atlases
from export_onnx.atlas_format import decode_atlas, encode_atlas

from .conftest import feature_arrays

GRID = 4


@pytest.mark.parametrize("image", ["chelsea", "rocket"])
def test_every_cell_holds_the_predictors_hover_choice_for_its_centre(
    image: str, sam2_predictors: dict[str, SAM2ImagePredictor]
) -> None:
    predictor = sam2_predictors[image]
    size = predictor._orig_hw[0]  # type: ignore[index]
    # Stored at the image's own size (mask_size above its longest side), so each cell compares
    # pixel for pixel with `predict`'s full-size logits; 5 per batch leaves a ragged last one.
    atlas = compute_atlas(predictor, grid=GRID, mask_size=max(size), points_per_batch=5)
    assert atlas.index.shape == grid_shape(size, GRID)
    assert atlas.masks.shape[1:] == size
    for cell, (x, y) in enumerate(cell_centres(size, GRID)):
        logits, iou, _ = predictor.predict(
            np.array([[x, y]]), np.array([1]), multimask_output=True, return_logits=True
        )
        best = int(np.argmax(iou))  # the page's chooseSam2Mask for a multimask hover
        k = int(atlas.index.flat[cell])
        if k == NO_MASK:
            assert not (logits[best] > 0).any()
            continue
        differ = atlas.masks[k] != (logits[best] > 0)
        # Batched and single decodes differ by float rounding only.
        assert np.all(np.abs(logits[best][differ]) < 1e-4), f"cell {cell}: {differ.sum()} px"
        if cell == int(np.flatnonzero(atlas.index.ravel() == k)[0]):
            assert atlas.predicted_iou[k] == pytest.approx(float(iou[best]), abs=1e-4)


def test_atlases_from_stored_features_match_the_predictors_and_round_trip(
    sam2_predictors: dict[str, SAM2ImagePredictor],
) -> None:
    predictors = list(sam2_predictors.values())
    sizes = [p._orig_hw[0] for p in predictors]  # type: ignore[index]
    alone = [compute_atlas(p, grid=GRID, mask_size=64) for p in predictors]
    together = compute_atlases(
        predictors[0].model,
        [feature_arrays(p) for p in predictors],
        sizes,
        grid=GRID,
        mask_size=64,
    )
    key = bytes(range(16))
    for a, b, size in zip(alone, together, sizes, strict=True):
        assert np.array_equal(a.index, b.index) and np.array_equal(a.masks, b.masks)
        assert a.masks.shape[1:] == (
            round(64 * size[0] / max(size)),
            round(64 * size[1] / max(size)),
        )
        back = decode_atlas(encode_atlas(b, model_key=key), model_key=key)
        assert np.array_equal(back.masks, b.masks) and np.array_equal(back.index, b.index)


def test_features_of_the_wrong_shape_are_refused(
    sam2_predictors: dict[str, SAM2ImagePredictor],
) -> None:
    predictor = next(iter(sam2_predictors.values()))
    features = feature_arrays(predictor)
    features["high_res_feats_0"] = torch.zeros(1, 32, 128, 128)
    with pytest.raises(ValueError, match="high_res_feats_0"):
        compute_atlases(predictor.model, [features], [(300, 451)], grid=GRID)
    with pytest.raises(ValueError, match="feature sets"):
        compute_atlases(predictor.model, [], [(300, 451)], grid=GRID)
