"""The hover atlas of a SAM 2 / 2.1 image: the page's hover mask for every cell of a grid.

The grid, the stored frame, deduplication, scores and the format are SAM 1's
(`annotator.sam.atlas`, whose docstring states the frames); what differs is the decode, which
follows SAM 2's reference:
- points go to the 1024 frame by a square stretch (x * 1024 / W, y * 1024 / H), not a
  longest-side resize, and the prompt encoder appends its padding point (no box);
- the mask decoder takes the image's two high-resolution maps as well as its embedding;
- the hover choice is the page's `chooseSam2Mask` for one positive point with multimask output:
  the best-scored of tokens 1-3 (sigmoid scores), first on ties;
- the low-res logits go to the stored size in one bilinear step with nothing to crop, as
  `upscale_logits` does to the original size, unclamped: the page paints its hover from the
  unclamped logits too (the +-32 clamp is only for the copy fed back as mask_input).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from annotator.sam.atlas import (
    HoverAtlas,
    cell_centres,
    check_options,
    deduplicate,
    grid_shape,
    mask_shape,
    stability_of,
)

from .model import SAM2Image
from .predictor import SAM2ImagePredictor
from .transforms import coords_to_input


@torch.inference_mode()
def compute_atlases(
    model: SAM2Image,
    features: Sequence[Mapping[str, Any]],
    original_sizes: Sequence[tuple[int, int]],
    *,
    grid: int = 32,
    mask_size: int = 128,
    dedup_iou: float = 1.0,
    points_per_batch: int = 64,
) -> list[HoverAtlas]:
    """Hover atlases of several images, one image at a time (each has its own high-resolution
    maps, so SAM 1's trick of mixing images in one decoder call does not apply).

    Arguments:
        model: the `SAM2Image` the features came from.
        features: per image ``image_embed`` (1, 256, 64, 64), ``high_res_feats_0``
            (1, 32, 256, 256) and ``high_res_feats_1`` (1, 64, 128, 128), as stored
            (`Sam2Segmenter.features`, or decoded from the wire format).
        original_sizes: (H, W) of each image in pixels.
        grid, mask_size, dedup_iou, points_per_batch: as `annotator.sam.atlas.compute_atlases`.
    Returns:
        One `HoverAtlas` per image.
    """
    if len(features) != len(original_sizes):
        raise ValueError(f"{len(features)} feature sets for {len(original_sizes)} images")
    predictor = SAM2ImagePredictor(model)
    atlases = []
    for feats, size in zip(features, original_sizes, strict=True):
        size = (int(size[0]), int(size[1]))
        predictor.set_image_features(dict(feats), size)
        atlases.append(
            _atlas(predictor, size, grid=grid, mask_size=mask_size, dedup_iou=dedup_iou,
                   points_per_batch=points_per_batch)
        )  # fmt: skip
    return atlases


def compute_atlas(predictor: SAM2ImagePredictor, **options: Any) -> HoverAtlas:
    """The hover atlas of the predictor's current image (after `set_image` or
    `set_image_features`); `options` as `compute_atlases`."""
    if predictor._orig_hw is None:
        raise RuntimeError("set an image first (set_image or set_image_features)")
    return _atlas(predictor, predictor._orig_hw[0], **options)


def _atlas(
    predictor: SAM2ImagePredictor,
    size: tuple[int, int],
    *,
    grid: int = 32,
    mask_size: int = 128,
    dedup_iou: float = 1.0,
    points_per_batch: int = 64,
) -> HoverAtlas:
    # Here rather than in `compute_atlases`, so that `compute_atlas` is checked too.
    check_options(dedup_iou=dedup_iou, points_per_batch=points_per_batch)
    model = predictor.model
    threshold = predictor.mask_threshold
    out_size = mask_shape(size, mask_size)
    centres = torch.as_tensor(cell_centres(size, grid), dtype=torch.float32)
    frame = coords_to_input(centres.to(predictor.device), size, model.image_size, True)
    masks, ious, stability = [], [], []
    for batch in frame.split(points_per_batch):
        low_res, iou = decode_hover_logits(predictor, batch)
        logits = torch.cat(
            [
                F.interpolate(chunk[:, None], out_size, mode="bilinear", align_corners=False)[:, 0]
                for chunk in low_res.split(16)
            ]
        )
        masks.append((logits > threshold).cpu())
        ious.append(iou.float().cpu())
        stability.append(stability_of(logits, threshold).cpu())
    return deduplicate(
        torch.cat(masks).numpy(),
        torch.cat(ious).numpy(),
        torch.cat(stability).numpy(),
        grid_shape(size, grid),
        size,
        dedup_iou=dedup_iou,
    )


@torch.inference_mode()
def decode_hover_logits(
    predictor: SAM2ImagePredictor, points: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 2) XY points in the 1024 frame, each a single positive click on the predictor's image
    -> (B, 256, 256) unclamped low-res logits of the hover choice and its (B,) sigmoid score."""
    features = predictor._features
    if features is None:
        raise RuntimeError("set an image first (set_image or set_image_features)")
    model = predictor.model
    labels = torch.ones(points.shape[0], 1, dtype=torch.int32, device=points.device)
    # As `SAM2ImagePredictor._predict` for point prompts, without its upscaling to the original
    # size (B x 3 full-size maps for a batch of grid points): the padding point is appended.
    encoder = model.sam_prompt_encoder
    sparse, dense = encoder(points=(points[:, None, :], labels), boxes=None, masks=None)
    low_res, iou, _ = model.sam_mask_decoder(
        image_embeddings=features["image_embed"],
        image_pe=encoder.get_dense_pe(),
        sparse_prompt_embeddings=sparse,
        dense_prompt_embeddings=dense,
        multimask_output=True,
        high_res_features=features["high_res_feats"],
    )
    best = iou.argmax(dim=1)
    rows = torch.arange(points.shape[0], device=points.device)
    return low_res[rows, best], iou[rows, best]
