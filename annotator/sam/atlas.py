"""The hover atlas: SAM's hover mask for every cell of a grid over the image, decoded ahead of time.

The page shows, while the pointer moves, the mask SAM gives for one positive point at the pointer
(multimask output, the candidate with the highest predicted IoU, logits > 0: `chooseMask` in
frontend/src/decoder/feeds.js). The atlas answers that question for the centre of every grid
cell once, in the worker, so the page can paint a hover mask without running the decoder.

Frames (stated once for every function below):
- The grid covers the original image. ``grid`` cells lie along its longest side and
  ``round(grid * short / long)`` (at least 1) along the other, so cells are square in the
  1024 frame (a grid of 64 is 16 frame pixels per cell whatever the aspect). Cell (r, c) spans
  x in [c * W / cols, (c + 1) * W / cols) in original pixels and is prompted at its centre.
- Stored masks cover the original image (the page paints over it), at ``mask_size`` pixels on
  the longest side (never more than the image itself). A stored pixel is inside when the
  decoder's logit at its centre is > 0: the low-res logits go through `Sam.postprocess_masks`
  with the stored size as the output size, i.e. the exact pipeline of `SamPredictor.predict`
  sampled at the stored pixels.
- ``boxes`` are XYXY in stored-mask pixels, end exclusive.

The defaults (a grid of 32, masks of 128 pixels, only identical masks shared) come from
bench/atlas.py; the figures and the reasoning are in bench/RESULTS.md ("Hover atlas").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .amg import calculate_stability_score
from .predictor import SamPredictor
from .sam import Sam
from .transforms import ResizeLongestSide

#: Index value of a cell whose hover mask is empty (nothing to paint).
NO_MASK = 0xFFFF
#: Most cells along one side, and most stored-mask pixels along one side (format limits).
MAX_GRID = 256
MAX_MASK_SIZE = 1024


@dataclass(frozen=True)
class HoverAtlas:
    """Unique hover masks of one image and the grid that points into them.

    Attributes:
        original_size: (H, W) of the image in pixels.
        index: (rows, cols) uint16, the mask of each cell, `NO_MASK` where it is empty.
        masks: (N, h, w) bool, the unique masks in the stored frame.
        predicted_iou: (N,) float32, SAM's IoU prediction of each mask's representative prompt.
        stability: (N,) float32, IoU of the mask thresholded at logit +1 and -1 (as in Meta's
            automatic mask generator), computed on the stored pixels.
        boxes: (N, 4) uint16 XYXY in stored-mask pixels, end exclusive.
    """

    original_size: tuple[int, int]
    index: np.ndarray
    masks: np.ndarray
    predicted_iou: np.ndarray
    stability: np.ndarray
    boxes: np.ndarray

    @property
    def grid_shape(self) -> tuple[int, int]:
        return (int(self.index.shape[0]), int(self.index.shape[1]))

    @property
    def mask_shape(self) -> tuple[int, int]:
        return (int(self.masks.shape[1]), int(self.masks.shape[2]))


def grid_shape(original_size: tuple[int, int], grid: int) -> tuple[int, int]:
    """(rows, cols) of the atlas grid: ``grid`` cells along the longest side."""
    h, w = original_size
    if not 1 <= grid <= MAX_GRID:
        raise ValueError(f"grid must be in 1..{MAX_GRID}, got {grid}")
    short = max(1, int(grid * min(h, w) / max(h, w) + 0.5))
    return (grid, short) if h >= w else (short, grid)


def mask_shape(original_size: tuple[int, int], mask_size: int) -> tuple[int, int]:
    """(h, w) of the stored masks: ``mask_size`` on the longest side, never above the image."""
    h, w = original_size
    if not 1 <= mask_size <= MAX_MASK_SIZE:
        raise ValueError(f"mask_size must be in 1..{MAX_MASK_SIZE}, got {mask_size}")
    scale = min(1.0, mask_size / max(h, w))
    return max(1, int(h * scale + 0.5)), max(1, int(w * scale + 0.5))


def cell_centres(original_size: tuple[int, int], grid: int) -> np.ndarray:
    """(rows * cols, 2) float64 XY of the cell centres in original pixels, row-major."""
    h, w = original_size
    rows, cols = grid_shape(original_size, grid)
    ys = (np.arange(rows) + 0.5) * (h / rows)
    xs = (np.arange(cols) + 0.5) * (w / cols)
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx.ravel(), gy.ravel()], axis=1)


@torch.inference_mode()
def decode_hover_logits(
    model: Sam,
    embeddings: torch.Tensor,
    image_ids: torch.Tensor,
    points: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One decoder call for single positive points, on possibly different images.

    Arguments:
        embeddings: (K, 256, 64, 64) float32 image embeddings on the model's device.
        image_ids: (B,) int64, which embedding each point belongs to.
        points: (B, 2) float32 XY in the 1024 frame (`ResizeLongestSide.apply_coords`).
    Returns:
        (B, 256, 256) low-res logits of the hover choice (the candidate of 1..3 with the highest
        predicted IoU, first on ties, as `chooseMask`) and its (B,) predicted IoU.
    """
    labels = torch.ones(points.shape[0], 1, dtype=torch.int, device=points.device)
    sparse, dense = model.prompt_encoder(
        points=(points[:, None, :], labels), boxes=None, masks=None
    )
    # The decoder adds its single image embedding to each prompt's dense embedding; handing it a
    # zero embedding and the per-point image embedding inside `dense` computes the same sum
    # (bit for bit: x + 0 == x), so one call can mix points of several images (GPU batches).
    per_point = embeddings.index_select(0, image_ids) + dense
    low_res, iou = model.mask_decoder(
        image_embeddings=torch.zeros_like(embeddings[:1]),
        image_pe=model.prompt_encoder.get_dense_pe(),
        sparse_prompt_embeddings=sparse,
        dense_prompt_embeddings=per_point,
        multimask_output=True,
    )
    best = iou.argmax(dim=1)
    rows = torch.arange(points.shape[0], device=points.device)
    return low_res[rows, best], iou[rows, best]


@torch.inference_mode()
def compute_atlases(
    model: Sam,
    embeddings: torch.Tensor,
    original_sizes: Sequence[tuple[int, int]],
    *,
    grid: int = 32,
    mask_size: int = 128,
    dedup_iou: float = 1.0,
    points_per_batch: int = 64,
) -> list[HoverAtlas]:
    """Hover atlases of several images, their grid points decoded together in batches.

    Arguments:
        model: the `Sam` model the embeddings came from.
        embeddings: (K, 256, 64, 64) float embeddings (`embed_images`, or a decoded wire format).
        original_sizes: K (H, W) image sizes in pixels.
        grid: cells along each image's longest side.
        mask_size: stored-mask pixels along the longest side.
        dedup_iou: a cell's mask reuses a neighbouring cell's mask when their IoU on the stored
            pixels is at least this (1.0: only identical masks are shared).
        points_per_batch: points per decoder call (memory vs speed, as in the mask generator).
    Returns:
        One `HoverAtlas` per image.
    """
    if embeddings.ndim != 4 or embeddings.shape[0] != len(original_sizes):
        raise ValueError(f"need (K, C, H, W) embeddings for {len(original_sizes)} images")
    check_options(dedup_iou=dedup_iou, points_per_batch=points_per_batch)
    device = model.device
    embeddings = embeddings.to(device, torch.float32)
    transform = ResizeLongestSide(model.img_size)
    sizes = [(int(h), int(w)) for h, w in original_sizes]
    ids, frame_points = [], []
    for k, size in enumerate(sizes):
        centres = transform.apply_coords(cell_centres(size, grid), size)
        frame_points.append(torch.as_tensor(centres, dtype=torch.float32))
        ids.append(torch.full((centres.shape[0],), k, dtype=torch.int64))
    all_ids = torch.cat(ids).to(device)
    all_points = torch.cat(frame_points).to(device)
    results: list[list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]] = [[] for _ in sizes]
    for start in range(0, all_points.shape[0], points_per_batch):
        batch = slice(start, start + points_per_batch)
        low_res, iou = decode_hover_logits(model, embeddings, all_ids[batch], all_points[batch])
        for k in all_ids[batch].unique().tolist():
            chosen = all_ids[batch] == k
            logits = stored_logits(model, low_res[chosen], sizes[k], mask_size)
            inside = logits > model.mask_threshold
            scores = iou[chosen].float().cpu()
            results[k].append(
                (inside.cpu(), scores, stability_of(logits, model.mask_threshold).cpu())
            )
    atlases = []
    for k, size in enumerate(sizes):
        masks, ious, stability = (torch.cat([r[i] for r in results[k]]).numpy() for i in range(3))
        shape = grid_shape(size, grid)
        atlases.append(deduplicate(masks, ious, stability, shape, size, dedup_iou=dedup_iou))
    return atlases


def check_options(*, dedup_iou: float, points_per_batch: int) -> None:
    """Refuse atlas options no decode could honour (both model families' atlases)."""
    if not 0.0 < dedup_iou <= 1.0:
        raise ValueError(f"dedup_iou must be in (0, 1], got {dedup_iou}")
    if points_per_batch < 1:
        raise ValueError("points_per_batch must be >= 1")


def compute_atlas(
    predictor: SamPredictor,
    *,
    grid: int = 32,
    mask_size: int = 128,
    dedup_iou: float = 1.0,
    points_per_batch: int = 64,
) -> HoverAtlas:
    """The hover atlas of the predictor's current image (after `set_image` or
    `set_image_embedding`); see `compute_atlases` for the arguments."""
    embedding = predictor.get_image_embedding()
    return compute_atlases(
        predictor.model,
        embedding,
        [predictor.original_size],
        grid=grid,
        mask_size=mask_size,
        dedup_iou=dedup_iou,
        points_per_batch=points_per_batch,
    )[0]


def stored_logits(
    model: Sam, low_res: torch.Tensor, original_size: tuple[int, int], mask_size: int
) -> torch.Tensor:
    """(B, 256, 256) low-res logits -> (B, h, w) logits at the stored-mask pixels."""
    input_size = ResizeLongestSide.get_preprocess_shape(*original_size, model.img_size)
    out_size = mask_shape(original_size, mask_size)
    # 16 masks at a time: the intermediate 1024x1024 frame is 4 MiB per mask.
    parts = [
        model.postprocess_masks(chunk[:, None], input_size, out_size)[:, 0]
        for chunk in low_res.split(16)
    ]
    return torch.cat(parts)


def stability_of(logits: torch.Tensor, threshold: float) -> torch.Tensor:
    """(B, h, w) logits -> (B,) stability (IoU of the masks at threshold +1 and -1)."""
    # An empty mask has no union; it scores 0 (it is never shown anyway).
    score = calculate_stability_score(logits, threshold, 1.0)
    return torch.nan_to_num(score, nan=0.0).float()


def deduplicate(
    masks: np.ndarray,
    predicted_iou: np.ndarray,
    stability: np.ndarray,
    grid: tuple[int, int],
    original_size: tuple[int, int],
    *,
    dedup_iou: float = 1.0,
) -> HoverAtlas:
    """Per-cell masks (rows * cols, h, w) bool, row-major -> unique masks and the cell index.

    Identical masks share one entry wherever their cells are. With ``dedup_iou < 1`` a cell also
    reuses the mask of an already visited neighbour (left, upper-left, upper, upper-right) whose
    IoU with its own is at least ``dedup_iou``: near-duplicates come from neighbouring points on
    the same object, so looking only there keeps this linear in the number of cells.
    A shared mask keeps the scores of the first cell that produced it.
    """
    rows, cols = grid
    flat = masks.reshape(masks.shape[0], -1)
    index = np.full((rows, cols), NO_MASK, dtype=np.uint16)
    seen: dict[bytes, int] = {}
    kept: list[int] = []
    for cell in range(rows * cols):
        r, c = divmod(cell, cols)
        area = int(flat[cell].sum())
        if area == 0:
            continue
        key = np.packbits(flat[cell]).tobytes()
        found = seen.get(key)
        if found is None and dedup_iou < 1.0:
            found = _similar_neighbour(flat, kept, index, r, c, cell, area, dedup_iou)
        if found is None:
            if len(kept) >= NO_MASK:
                raise ValueError("more unique masks than the index can address")
            found = len(kept)
            kept.append(cell)
            seen[key] = found
        index[r, c] = found
    keep = np.asarray(kept, dtype=np.int64)
    unique = masks[keep] if keep.size else np.zeros((0, *masks.shape[1:]), dtype=bool)
    return HoverAtlas(
        original_size=(int(original_size[0]), int(original_size[1])),
        index=index,
        masks=unique.astype(bool),
        predicted_iou=np.asarray(predicted_iou, dtype=np.float32)[keep],
        stability=np.asarray(stability, dtype=np.float32)[keep],
        boxes=mask_boxes(unique),
    )


def _similar_neighbour(
    flat: np.ndarray,
    kept: list[int],
    index: np.ndarray,
    r: int,
    c: int,
    cell: int,
    area: int,
    dedup_iou: float,
) -> int | None:
    rows, cols = index.shape
    for dr, dc in ((0, -1), (-1, -1), (-1, 0), (-1, 1)):
        rr, cc = r + dr, c + dc
        if not (0 <= rr < rows and 0 <= cc < cols) or index[rr, cc] == NO_MASK:
            continue
        other = flat[kept[int(index[rr, cc])]]
        inter = int(np.count_nonzero(other & flat[cell]))
        union = area + int(other.sum()) - inter
        if inter / union >= dedup_iou:
            return int(index[rr, cc])
    return None


def mask_boxes(masks: np.ndarray) -> np.ndarray:
    """(N, h, w) bool -> (N, 4) uint16 XYXY boxes, end exclusive (zeros for an empty mask)."""
    boxes = np.zeros((masks.shape[0], 4), dtype=np.uint16)
    for i, mask in enumerate(masks):
        ys = np.flatnonzero(mask.any(axis=1))
        xs = np.flatnonzero(mask.any(axis=0))
        if ys.size:
            boxes[i] = (xs[0], ys[0], xs[-1] + 1, ys[-1] + 1)
    return boxes
