"""The hover atlas on the pack models: each cell holds exactly the page's hover decode of its centre."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from annotator.sam import Sam, SamPredictor
from annotator.sam.atlas import (
    NO_MASK,
    HoverAtlas,
    cell_centres,
    compute_atlas,
    compute_atlases,
    deduplicate,
    grid_shape,
    mask_shape,
)
from export_onnx.atlas_format import AtlasFormatError, decode_atlas, encode_atlas
from tests.conftest import REPO_ROOT

from .conftest import PACK_MODELS

GRID = 5
MASK_SIZE = 48
KEY = bytes(range(16))


@pytest.fixture(scope="module")
def predictors(
    pack_models: dict[str, Sam], pack_images: dict[str, np.ndarray]
) -> dict[str, SamPredictor]:
    out = {}
    for name, model in pack_models.items():
        predictor = SamPredictor(model)
        predictor.set_image(pack_images["chelsea"])
        out[name] = predictor
    return out


@pytest.fixture(scope="module")
def atlases(predictors: dict[str, SamPredictor]) -> dict[str, HoverAtlas]:
    # A batch of 7 leaves a ragged last batch, so batching cannot hide behind a round count.
    return {
        name: compute_atlas(p, grid=GRID, mask_size=MASK_SIZE, points_per_batch=7)
        for name, p in predictors.items()
    }


def exact_hover_mask(predictor: SamPredictor, x: float, y: float) -> tuple[np.ndarray, float]:
    """The page's hover choice through the interactive API, sampled at the stored pixels."""
    _, iou, low_res = predictor.predict(np.array([[x, y]]), np.array([1]), multimask_output=True)
    best = int(np.argmax(iou))
    size = mask_shape(predictor.original_size, MASK_SIZE)
    logits = predictor.model.postprocess_masks(
        torch.as_tensor(low_res[best])[None, None], predictor.input_size, size
    )[0, 0].numpy()
    return logits, float(iou[best])


@pytest.mark.parametrize("name", PACK_MODELS)
def test_every_cell_holds_the_exact_hover_decode_of_its_centre(
    name: str, predictors: dict[str, SamPredictor], atlases: dict[str, HoverAtlas]
) -> None:
    predictor, atlas = predictors[name], atlases[name]
    rows, cols = grid_shape(predictor.original_size, GRID)
    assert atlas.index.shape == (rows, cols) == (3, 5)  # chelsea is 300x451
    assert atlas.masks.shape[1:] == (32, 48)
    for cell, (x, y) in enumerate(cell_centres(predictor.original_size, GRID)):
        logits, iou = exact_hover_mask(predictor, x, y)
        k = int(atlas.index.flat[cell])
        if k == NO_MASK:
            assert not (logits > 0).any()
            continue
        differ = atlas.masks[k] != (logits > 0)
        # Batched and single decodes differ by float rounding only: a pixel may flip only
        # where the logit is that close to the threshold.
        assert np.all(np.abs(logits[differ]) < 1e-4), f"cell {cell}: {differ.sum()} pixels"
        if cell == _first_cell(atlas, k):  # a shared mask keeps its first cell's scores
            assert atlas.predicted_iou[k] == pytest.approx(iou, abs=1e-4)


def _first_cell(atlas: HoverAtlas, k: int) -> int:
    return int(np.flatnonzero(atlas.index.ravel() == k)[0])


@pytest.mark.parametrize("name", PACK_MODELS)
def test_unique_masks_are_distinct_and_boxes_bound_them(
    name: str, atlases: dict[str, HoverAtlas]
) -> None:
    atlas = atlases[name]
    packed = {np.packbits(m).tobytes() for m in atlas.masks}
    assert len(packed) == len(atlas.masks) > 1
    for mask, (x0, y0, x1, y1) in zip(atlas.masks, atlas.boxes, strict=True):
        ys, xs = np.nonzero(mask)
        assert (x0, y0, x1, y1) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    assert np.all((atlas.stability >= 0) & (atlas.stability <= 1))


def test_points_of_several_images_batch_together_as_each_alone(
    pack_models: dict[str, Sam], pack_images: dict[str, np.ndarray]
) -> None:
    model = pack_models["sam_vit_small"]
    predictor = SamPredictor(model)
    images = [pack_images["chelsea"], pack_images["rocket"]]
    alone, embeddings = [], []
    for image in images:
        predictor.set_image(image)
        embeddings.append(predictor.get_image_embedding())
        alone.append(compute_atlas(predictor, grid=3, mask_size=32, points_per_batch=9))
    # 6 points per batch: the second batch holds points of both images.
    together = compute_atlases(
        model,
        torch.cat(embeddings),
        [image.shape[:2] for image in images],
        grid=3,
        mask_size=32,
        points_per_batch=6,
    )
    for a, b in zip(alone, together, strict=True):
        assert np.array_equal(a.index, b.index)
        assert np.mean(a.masks == b.masks) > 0.999
        np.testing.assert_allclose(a.predicted_iou, b.predicted_iou, atol=1e-4)


def test_near_duplicates_merge_only_above_the_iou_threshold() -> None:
    base = np.zeros((20, 20), bool)
    base[4:14, 4:14] = True  # 100 pixels
    near = base.copy()
    near[14, 4:9] = True  # IoU 100/105 = 0.952
    other = np.zeros_like(base)
    other[15:19, 15:19] = True
    cells = np.stack([base, near, other, base, np.zeros_like(base), near])
    scores = np.arange(6, dtype=np.float32)
    exact = deduplicate(cells, scores, scores, (2, 3), (20, 20))
    assert exact.index.tolist() == [[0, 1, 2], [0, NO_MASK, 1]]
    merged = deduplicate(cells, scores, scores, (2, 3), (20, 20), dedup_iou=0.95)
    assert merged.index.tolist() == [[0, 0, 1], [0, NO_MASK, 0]]
    assert merged.predicted_iou.tolist() == [0.0, 2.0]
    strict = deduplicate(cells, scores, scores, (2, 3), (20, 20), dedup_iou=0.96)
    assert len(strict.masks) == 3


@pytest.mark.parametrize("name", PACK_MODELS)
def test_format_round_trips_the_pack_atlas_and_refuses_another_model(
    name: str, atlases: dict[str, HoverAtlas]
) -> None:
    atlas = atlases[name]
    data = encode_atlas(atlas, model_key=KEY)
    decoded = decode_atlas(data, model_key=KEY)
    assert decoded.original_size == atlas.original_size == (300, 451)
    for field in ("index", "masks", "predicted_iou", "stability", "boxes"):
        assert np.array_equal(getattr(decoded, field), getattr(atlas, field)), field
    with pytest.raises(AtlasFormatError, match="another model"):
        decode_atlas(data, model_key=bytes(16))
    with pytest.raises(AtlasFormatError, match="bytes"):
        decode_atlas(data[:-3], model_key=KEY)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is needed for the page's reader")
def test_the_pages_reader_answers_what_the_writer_stored(
    atlases: dict[str, HoverAtlas], tmp_path: Path
) -> None:
    atlas = atlases["mobile_sam"]
    path = tmp_path / "atlas.bin"
    path.write_bytes(encode_atlas(atlas, model_key=KEY))
    rng = np.random.default_rng(0)
    probes = rng.uniform((0, 0), (451, 300), size=(40, 2))
    out = _node_dump(path, KEY.hex(), [f"{x},{y}" for x, y in probes])
    assert out["grid"] == [3, 5] and out["maskSize"] == [32, 48]
    assert out["index"] == atlas.index.ravel().tolist()
    masks = [np.array(list(s), dtype=np.uint8).reshape(32, 48).astype(bool) for s in out["masks"]]
    assert np.array_equal(np.array(masks), atlas.masks)
    np.testing.assert_array_equal(np.float32(out["predictedIou"]), atlas.predicted_iou)
    rows, cols = atlas.index.shape
    for (x, y), got in zip(probes, out["maskAt"], strict=True):
        k = int(atlas.index[int(y * rows / 300), int(x * cols / 451)])
        assert got == (-1 if k == NO_MASK else k)
    foreign = _node_dump(path, "00" * 16, [])
    assert "another model" in foreign["error"]


def _node_dump(path: Path, key: str, probes: list[str]) -> dict:
    result = subprocess.run(
        ["node", "tests/atlas_dump.mjs", str(path), key, *probes],
        cwd=REPO_ROOT / "frontend", capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return json.loads(result.stdout)
