"""Interactive SAM 2 prediction: encode an image once, then decode masks for many prompts.

Mirrors Meta's `SAM2ImagePredictor` (method names, arguments, return shapes, `_features`,
`_orig_hw`). Coordinates are XY in original image pixels unless `normalize_coords=False`, in
which case they must already be in [0, 1] of the image's width and height.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from annotator.sam.predictor import to_rgb_uint8

from .model import SAM2Image
from .prompt_encoder import LABEL_BOX_BOTTOM_RIGHT, LABEL_BOX_TOP_LEFT
from .transforms import coords_to_input, fill_small_regions, image_to_input, upscale_logits

LOW_RES_SIDE = 256  # side of the decoder's logits and of `mask_input`
LOW_RES_CLAMP = 32.0  # the returned low-res logits are clamped to +-32 (after upscaling)


@dataclass
class Prediction:
    """Everything one decoder call produced, as torch tensors (B prompt sets, C masks each).

    masks: (B, C, h, w) float32 logits or bool at the original size; iou_predictions: (B, C)
    sigmoid scores; low_res_masks: (B, C, 256, 256) logits clamped to +-32; sparse_embeddings:
    (B, N, 256) prompt tokens; object_score_logits: (B, 1), which image mode ignores.
    """

    masks: torch.Tensor
    iou_predictions: torch.Tensor
    low_res_masks: torch.Tensor
    sparse_embeddings: torch.Tensor
    object_score_logits: torch.Tensor


def _image_array(image: np.ndarray | Image.Image) -> np.ndarray:
    if isinstance(image, Image.Image):
        return np.array(image.convert("RGB"))  # a writable copy, as torch wants
    return to_rgb_uint8(image)


def _finite(values: Any, name: str) -> torch.Tensor:
    # float32, unlike SAM 1's float64 `_finite_array`: SAM 2's reference maps prompts in float32.
    try:
        array = np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from exc
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return torch.from_numpy(array.copy())


class SAM2ImagePredictor:
    """Compute an image's features once, then predict masks for prompts cheaply.

    Arguments:
      sam_model: the `SAM2Image` model (`build_sam2`).
      mask_threshold: logit threshold of the boolean masks (0.0).
      max_hole_area / max_sprinkle_area: when > 0, background (foreground) components of the
        256x256 logits with at most this area are filled (removed) before upscaling,
        8-connected. Meta does this with a CUDA kernel and silently skips it without one; we
        use OpenCV, so it also happens on CPU. At the defaults (0) nothing changes.
    """

    def __init__(
        self,
        sam_model: SAM2Image,
        mask_threshold: float = 0.0,
        max_hole_area: float = 0.0,
        max_sprinkle_area: float = 0.0,
    ) -> None:
        self.model = sam_model
        self.mask_threshold = mask_threshold
        self.max_hole_area = max_hole_area
        self.max_sprinkle_area = max_sprinkle_area
        self._features: dict[str, Any] | None = None
        self._orig_hw: list[tuple[int, int]] | None = None
        self._is_image_set = False
        self._is_batch = False

    @property
    def device(self) -> torch.device:
        return self.model.device

    def reset_predictor(self) -> None:
        """Forget the current image(s)."""
        self._features = None
        self._orig_hw = None
        self._is_image_set = False
        self._is_batch = False

    # ----------------------------------------------------------------------------- encoding

    @torch.inference_mode()
    def set_image(self, image: np.ndarray | Image.Image) -> None:
        """Encode one image.

        Arguments:
          image: HWC uint8 RGB array (other layouts converted by `to_rgb_uint8`) or a PIL image.
        """
        self.reset_predictor()
        array = _image_array(image)
        self._encode([array])

    @torch.inference_mode()
    def set_image_batch(self, image_list: list[np.ndarray]) -> None:
        """Encode several images at once, for `predict_batch`.

        Arguments:
          image_list: HWC uint8 RGB arrays, any sizes.
        """
        self.reset_predictor()
        if not isinstance(image_list, list) or not image_list:
            raise ValueError("image_list must be a non-empty list of HWC uint8 RGB arrays")
        self._encode([_image_array(image) for image in image_list])
        self._is_batch = True

    def _encode(self, arrays: list[np.ndarray]) -> None:
        side = self.model.image_size
        batch = torch.stack([image_to_input(a, side, self.device) for a in arrays])
        self._features = self.model.forward_image(batch)
        self._orig_hw = [(int(a.shape[0]), int(a.shape[1])) for a in arrays]
        self._is_image_set = True

    def set_image_features(self, features: dict[str, Any], original_size: tuple[int, int]) -> None:
        """Use stored features instead of encoding again (as SAM 1's `set_image_embedding`).

        Arguments:
          features: float ``image_embed`` (1, 256, 64, 64), ``high_res_feats_0`` (1, 32, 256,
            256), ``high_res_feats_1`` (1, 64, 128, 128), arrays or tensors; kept as float32.
          original_size: (H, W) of the image they were computed from.
        """
        n = self.model.image_size // 16
        shapes = {
            "image_embed": (256, n),
            "high_res_feats_0": (32, 4 * n),
            "high_res_feats_1": (64, 2 * n),
        }
        maps = [torch.as_tensor(features.get(k, np.empty(0)), device=self.device) for k in shapes]
        for (name, (c, side)), t in zip(shapes.items(), maps, strict=True):
            if tuple(t.shape) != (1, c, side, side) or not t.is_floating_point():
                raise ValueError(f"{name} must be a float array of shape {(1, c, side, side)}")
        if int(original_size[0]) < 1 or int(original_size[1]) < 1:
            raise ValueError(f"original_size must be positive (H, W), got {original_size}")
        self.reset_predictor()
        maps = [t.float() for t in maps]
        self._features = {"image_embed": maps[0], "high_res_feats": maps[1:]}
        self._orig_hw = [(int(original_size[0]), int(original_size[1]))]
        self._is_image_set = True

    def get_image_embedding(self) -> torch.Tensor:
        """The (B, 256, 64, 64) float32 `image_embed` of the current image(s) (B = 1 normally)."""
        features = self._require_image()
        image_embed: torch.Tensor = features["image_embed"]
        return image_embed

    def _require_image(self) -> dict[str, Any]:
        if not self._is_image_set or self._features is None:
            raise RuntimeError("An image must be set with .set_image(...) before mask prediction.")
        return self._features

    # ----------------------------------------------------------------------------- prediction

    def predict(
        self,
        point_coords: np.ndarray | None = None,
        point_labels: np.ndarray | None = None,
        box: np.ndarray | None = None,
        mask_input: np.ndarray | None = None,
        multimask_output: bool = True,
        return_logits: bool = False,
        normalize_coords: bool = True,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Predict masks on the current image.

        Arguments:
          point_coords: (N, 2) XY (or (B, N, 2) for B prompt sets), original pixels.
          point_labels: (N,) (or (B, N)): 1 foreground, 0 background.
          box: (4,) XYXY in original pixels, or (B, 4) for B objects at once; corners in
            either order.
          mask_input: (1, 256, 256) (or (B, 1, 256, 256)) low-res logits of an earlier call.
          multimask_output: 3 masks per prompt set; otherwise 1, chosen dynamically (token 0
            if it is stable, else the best-scored multimask token).
          return_logits: float32 logits instead of booleans.
          normalize_coords: coordinates are in pixels (True) or already in [0, 1] (False).
        Returns:
          masks (C, h, w) (or (B, C, h, w)) bool or float32 logits at the original size,
          iou_predictions (C,) (or (B, C)) float32, low-res logits (C, 256, 256) (or
          (B, C, 256, 256)) float32 clamped to +-32.
        """
        self._require_image()
        if self._is_batch:
            raise RuntimeError("set_image_batch was used: call predict_batch")
        result = self._predict_prompts(
            point_coords,
            point_labels,
            box,
            mask_input,
            multimask_output,
            return_logits,
            normalize_coords,
            img_idx=0,
        )
        return _to_numpy(result)

    def predict_batch(
        self,
        point_coords_batch: list[np.ndarray | None] | None = None,
        point_labels_batch: list[np.ndarray | None] | None = None,
        box_batch: list[np.ndarray | None] | None = None,
        mask_input_batch: list[np.ndarray | None] | None = None,
        multimask_output: bool = True,
        return_logits: bool = False,
        normalize_coords: bool = True,
    ) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
        """`predict` for each image of `set_image_batch`; every argument is a per-image list.

        Returns:
          lists (one entry per image) of masks, IoU scores and low-res logits, shaped as
          `predict` returns them.
        """
        self._require_image()
        if not self._is_batch:
            raise RuntimeError("predict_batch needs set_image_batch")
        assert self._orig_hw is not None
        outputs: tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]] = ([], [], [])
        for i in range(len(self._orig_hw)):
            result = self._predict_prompts(
                _item(point_coords_batch, i),
                _item(point_labels_batch, i),
                _item(box_batch, i),
                _item(mask_input_batch, i),
                multimask_output,
                return_logits,
                normalize_coords,
                i,
            )
            for out, array in zip(outputs, _to_numpy(result), strict=True):
                out.append(array)
        return outputs

    def _predict_prompts(
        self,
        point_coords: Any,
        point_labels: Any,
        box: Any,
        mask_input: Any,
        multimask_output: bool,
        return_logits: bool,
        normalize_coords: bool,
        img_idx: int,
    ) -> Prediction:
        coords, labels, boxes, masks = self._prep_prompts(
            point_coords, point_labels, box, mask_input, normalize_coords, img_idx
        )
        return self._predict(coords, labels, boxes, masks, multimask_output, return_logits, img_idx)

    def _prep_prompts(
        self,
        point_coords: Any,
        point_labels: Any,
        box: Any,
        mask_input: Any,
        normalize_coords: bool,
        img_idx: int = 0,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
        """Validate numpy prompts and map them to input-frame tensors.

        Returns:
          (B, N, 2) float32 XY in the 1024² frame, (B, N) int32 labels, (B, 2, 2) box corners in
          the same frame, (B, 1, 256, 256) float32 mask logits; each None when not given.
        """
        assert self._orig_hw is not None
        orig_hw = self._orig_hw[img_idx]
        side = self.model.image_size
        coords = labels = boxes = masks = None
        if point_coords is not None:
            if point_labels is None:
                raise ValueError("point_labels must be supplied if point_coords is supplied")
            coords = _finite(point_coords, "point_coords")
            labels_np = np.asarray(point_labels)
            if coords.ndim == 2:
                coords, labels_np = coords[None], labels_np[None]
            if coords.ndim != 3 or coords.shape[-1] != 2 or coords.shape[1] == 0:
                raise ValueError(
                    f"point_coords must be (N, 2) or (B, N, 2), got {tuple(coords.shape)}"
                )
            if labels_np.shape != tuple(coords.shape[:2]):
                raise ValueError(
                    f"point_labels must have shape {tuple(coords.shape[:2])}, got {labels_np.shape}"
                )
            if not np.isin(labels_np, (0, 1)).all():
                raise ValueError("point_labels must be 1 (foreground) or 0 (background)")
            coords = coords_to_input(coords.to(self.device), orig_hw, side, normalize_coords)
            labels = torch.as_tensor(labels_np.astype(np.int32), device=self.device)
        elif point_labels is not None:
            raise ValueError("point_labels given without point_coords")
        if box is not None:
            box_t = _finite(box, "box")
            if box_t.shape[-1:] != (4,) or box_t.ndim > 2 or box_t.numel() == 0:
                raise ValueError(f"box must be (4,) or (B, 4) XYXY, got {tuple(box_t.shape)}")
            corners = box_t.reshape(-1, 2, 2)
            # Corners in either order: SAM 2 labels the first top-left (2), the second
            # bottom-right (3), so a box drawn from its bottom-right corner is reordered (as
            # annotator.sam does) rather than encoded upside down.
            corners = torch.stack([corners.min(dim=1).values, corners.max(dim=1).values], dim=1)
            boxes = coords_to_input(corners.to(self.device), orig_hw, side, normalize_coords)
        if mask_input is not None:
            masks = _finite(mask_input, "mask_input")
            if masks.ndim == 3:
                masks = masks[None]
            if masks.ndim != 4 or masks.shape[1:] != (1, LOW_RES_SIDE, LOW_RES_SIDE):
                raise ValueError(
                    f"mask_input must be (1, 256, 256) or (B, 1, 256, 256) low-res logits, got "
                    f"{tuple(np.shape(mask_input))}; it is not resized"
                )
            masks = masks.to(self.device)
        return coords, labels, boxes, masks

    @torch.inference_mode()
    def _predict(
        self,
        point_coords: torch.Tensor | None,
        point_labels: torch.Tensor | None,
        boxes: torch.Tensor | None = None,
        mask_input: torch.Tensor | None = None,
        multimask_output: bool = True,
        return_logits: bool = False,
        img_idx: int = 0,
    ) -> Prediction:
        """Decode prompts already in the 1024² input frame (see `_prep_prompts`).

        Arguments:
          point_coords: (B, N, 2) float32 XY; point_labels: (B, N) int labels 0/1.
          boxes: (B, 2, 2) or (B, 4) XYXY corners.
          mask_input: (B, 1, 256, 256) float32 logits.
          img_idx: which image of a batch.
        Returns:
          the `Prediction` (torch tensors, batch dimension kept).
        """
        features = self._require_image()
        assert self._orig_hw is not None
        points = self._concat_box_points(point_coords, point_labels, boxes)
        if (
            mask_input is not None
            and points is not None
            and mask_input.shape[0] not in (1, points[0].shape[0])
        ):
            raise ValueError(
                f"{mask_input.shape[0]} mask inputs for {points[0].shape[0]} prompt sets"
            )
        encoder = self.model.sam_prompt_encoder
        # Boxes travel as points, so `boxes=None` and the padding point is always appended.
        sparse, dense = encoder(points=points, boxes=None, masks=mask_input)
        high_res = [level[img_idx].unsqueeze(0) for level in features["high_res_feats"]]
        low_res, iou, object_scores = self.model.sam_mask_decoder(
            image_embeddings=features["image_embed"][img_idx].unsqueeze(0),
            image_pe=encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=multimask_output,
            high_res_features=high_res,
        )
        to_upscale = fill_small_regions(
            low_res, self.mask_threshold, self.max_hole_area, self.max_sprinkle_area
        )
        masks = upscale_logits(to_upscale, self._orig_hw[img_idx])
        low_res = torch.clamp(low_res, -LOW_RES_CLAMP, LOW_RES_CLAMP)
        if not return_logits:
            masks = masks > self.mask_threshold
        return Prediction(masks, iou, low_res, sparse, object_scores)

    def _concat_box_points(
        self,
        coords: torch.Tensor | None,
        labels: torch.Tensor | None,
        boxes: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Prepend each box's corners (labels 2, 3) to the clicks: [TL, BR, clicks...]."""
        if coords is not None and labels is None:
            raise ValueError("point_labels must be supplied if point_coords is supplied")
        if boxes is None:
            return None if coords is None else (coords, labels)  # type: ignore[return-value]
        box_coords = boxes.reshape(-1, 2, 2)
        box_labels = torch.tensor(
            [[LABEL_BOX_TOP_LEFT, LABEL_BOX_BOTTOM_RIGHT]], dtype=torch.int32, device=boxes.device
        ).repeat(box_coords.shape[0], 1)
        if coords is None or labels is None:
            return box_coords, box_labels
        if coords.shape[0] != box_coords.shape[0]:
            raise ValueError(
                f"{box_coords.shape[0]} boxes but {coords.shape[0]} point sets: give one point "
                f"set per box"
            )
        return torch.cat([box_coords, coords], dim=1), torch.cat([box_labels, labels.int()], dim=1)


def _item(items: list[Any] | None, index: int) -> Any:
    return None if items is None else items[index]


def _to_numpy(result: Prediction) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Meta's return convention: drop the batch axis when it is 1."""
    masks = result.masks.squeeze(0).cpu().numpy()
    iou = result.iou_predictions.squeeze(0).float().cpu().numpy()
    low_res = result.low_res_masks.squeeze(0).float().cpu().numpy()
    return masks, iou, low_res
