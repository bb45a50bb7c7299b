"""Everything mode: masks for a grid of point prompts over the image (and optional crops)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .amg import (
    MaskData,
    area_from_rle,
    batch_iterator,
    batched_mask_to_box,
    batched_nms,
    box_area,
    box_xyxy_to_xywh,
    build_all_layer_point_grids,
    calculate_stability_score,
    coco_encode_rle,
    generate_crop_boxes,
    is_box_near_crop_edge,
    mask_to_rle_pytorch,
    remove_small_regions,
    rle_to_mask,
    uncrop_boxes_xyxy,
    uncrop_masks,
    uncrop_points,
)
from .predictor import SamPredictor, to_rgb_uint8
from .sam import Sam

OUTPUT_MODES = ("binary_mask", "uncompressed_rle", "coco_rle")

# The steps below are the mask bookkeeping of Meta's automatic mask generators, the same in
# SAM 1 and SAM 2 (`annotator.sam2.automatic` uses them too); the generators differ only in how
# they prompt their predictor.


def grids_for_generator(
    *,
    points_per_side: int | None,
    point_grids: list[np.ndarray] | None,
    crop_n_layers: int,
    crop_n_points_downscale_factor: int,
    output_mode: str,
    points_per_batch: int,
) -> list[np.ndarray]:
    """Check a generator's options and return its per-crop-layer (N, 2) point grids in [0, 1].

    Raises:
      ValueError: not exactly one of points_per_side / point_grids, a grid count that is not
        crop_n_layers + 1, an unknown output_mode, or points_per_batch < 1.
    """
    if (points_per_side is None) == (point_grids is None):
        raise ValueError("Exactly one of points_per_side or point_grids must be provided.")
    if points_per_side is not None:
        grids = build_all_layer_point_grids(
            points_per_side, crop_n_layers, crop_n_points_downscale_factor
        )
    else:
        assert point_grids is not None
        if len(point_grids) != crop_n_layers + 1:
            raise ValueError("point_grids needs one grid per crop layer (crop_n_layers + 1)")
        grids = point_grids
    if output_mode not in OUTPUT_MODES:
        raise ValueError(f"Unknown output_mode {output_mode!r}; use one of {OUTPUT_MODES}")
    if points_per_batch < 1:
        raise ValueError("points_per_batch must be >= 1")
    return grids


def encode_segmentations(rles: list[dict[str, Any]], output_mode: str) -> list[Any]:
    """The records' `segmentation`s: COCO RLE, (H, W) bool masks, or the uncompressed RLEs."""
    if output_mode == "coco_rle":
        return [coco_encode_rle(rle) for rle in rles]
    if output_mode == "binary_mask":
        return [rle_to_mask(rle) for rle in rles]
    return list(rles)


def mask_records(
    mask_data: MaskData, output_mode: str, xywh: Callable[[Any], list[Any]]
) -> list[dict[str, Any]]:
    """The generators' output: one record per mask, in `mask_data`'s order.

    Arguments:
      xywh: XYXY box -> [x, y, w, h] list (SAM 1 keeps the integers, SAM 2 makes them floats).
    Returns:
      records with segmentation (per `output_mode`), area, bbox, predicted_iou, point_coords
      ([[x, y]]), stability_score and crop_box.
    """
    segmentations = encode_segmentations(mask_data["rles"], output_mode)
    return [
        {
            "segmentation": segmentation,
            "area": area_from_rle(mask_data["rles"][idx]),
            "bbox": xywh(mask_data["boxes"][idx]),
            "predicted_iou": float(mask_data["iou_preds"][idx]),
            "point_coords": [np.asarray(mask_data["points"][idx]).tolist()],
            "stability_score": float(mask_data["stability_score"][idx]),
            "crop_box": xywh(mask_data["crop_boxes"][idx]),
        }
        for idx, segmentation in enumerate(segmentations)
    ]


def _xywh(box_xyxy: Any) -> list[Any]:
    """[x, y, w, h] keeping the box's integers, as Meta's SAM 1 records do."""
    return list(box_xyxy_to_xywh(torch.as_tensor(box_xyxy)).tolist())


def nms_across_crops(data: MaskData, *, n_crops: int, iou_threshold: float) -> None:
    """Of masks found in several crops keep the one from the smallest crop (filters `data`)."""
    if n_crops > 1 and len(data) > 0:
        scores = 1 / box_area(data["crop_boxes"])
        keep = batched_nms(
            data["boxes"].float(),
            scores.to(data["boxes"].device),
            torch.zeros_like(data["boxes"][:, 0]),
            iou_threshold=iou_threshold,
        )
        data.filter(keep)


def finish_crop(data: MaskData, crop_box: list[int], *, iou_threshold: float) -> MaskData:
    """NMS by predicted IoU within one crop, then boxes and points back to image coordinates."""
    if len(data) == 0:
        return data
    keep = batched_nms(
        data["boxes"].float(),
        data["iou_preds"],
        torch.zeros_like(data["boxes"][:, 0]),
        iou_threshold=iou_threshold,
    )
    data.filter(keep)
    data["boxes"] = uncrop_boxes_xyxy(data["boxes"], crop_box)
    data["points"] = uncrop_points(data["points"], crop_box)
    data["crop_boxes"] = torch.tensor([crop_box for _ in range(len(data["rles"]))])
    return data


def filter_and_encode(
    data: MaskData,
    *,
    pred_iou_thresh: float,
    stability_score_thresh: float,
    stability_score_offset: float,
    mask_threshold: float,
    crop_box: list[int],
    orig_size: tuple[int, ...],
) -> MaskData:
    """One batch's mask logits to filtered, uncropped RLEs with boxes and stability scores.

    Arguments:
      data: `masks` (M, h, w) logits at the crop's size, `iou_preds` (M,), `points` (M, 2).
      crop_box: XYXY of the crop in the original image; orig_size: (H, W) of the image.
    Returns:
      `data` without `masks`, with `rles`, `boxes` (XYXY, crop frame) and `stability_score`.
    """
    orig_h, orig_w = orig_size
    if pred_iou_thresh > 0.0:
        data.filter(data["iou_preds"] > pred_iou_thresh)
    data["stability_score"] = calculate_stability_score(
        data["masks"], mask_threshold, stability_score_offset
    )
    if stability_score_thresh > 0.0:
        data.filter(data["stability_score"] >= stability_score_thresh)

    data["masks"] = data["masks"] > mask_threshold
    data["boxes"] = batched_mask_to_box(data["masks"])
    keep = ~is_box_near_crop_edge(data["boxes"], crop_box, [0, 0, orig_w, orig_h])
    if not torch.all(keep):
        data.filter(keep)

    data["masks"] = uncrop_masks(data["masks"], crop_box, orig_h, orig_w)
    data["rles"] = mask_to_rle_pytorch(data["masks"])
    del data["masks"]
    return data


class CropGridGenerator:
    """What Meta's SAM 1 and SAM 2 mask generators share: prompt a point grid on every crop,
    NMS within and across crops. Subclasses set the attributes below in `__init__` and say how
    to encode a crop and decode one batch of points."""

    point_grids: list[np.ndarray]
    points_per_batch: int
    box_nms_thresh: float
    crop_n_layers: int
    crop_nms_thresh: float
    crop_overlap_ratio: float

    def _set_image(self, image: np.ndarray) -> None:
        raise NotImplementedError

    def _reset_image(self) -> None:
        raise NotImplementedError

    def _process_batch(
        self,
        points: np.ndarray,
        im_size: tuple[int, int],
        crop_box: list[int],
        orig_size: tuple[int, ...],
    ) -> MaskData:
        raise NotImplementedError

    def _generate_masks(self, image: np.ndarray) -> MaskData:
        orig_size = image.shape[:2]
        crop_boxes, layer_idxs = generate_crop_boxes(
            orig_size, self.crop_n_layers, self.crop_overlap_ratio
        )
        data = MaskData()
        for crop_box, layer_idx in zip(crop_boxes, layer_idxs, strict=True):
            data.cat(self._process_crop(image, crop_box, layer_idx, orig_size))

        nms_across_crops(data, n_crops=len(crop_boxes), iou_threshold=self.crop_nms_thresh)
        data.to_numpy()
        return data

    def _process_crop(
        self,
        image: np.ndarray,
        crop_box: list[int],
        crop_layer_idx: int,
        orig_size: tuple[int, ...],
    ) -> MaskData:
        x0, y0, x1, y1 = crop_box
        cropped_im = image[y0:y1, x0:x1, :]
        cropped_im_size = (int(cropped_im.shape[0]), int(cropped_im.shape[1]))
        self._set_image(cropped_im)

        points_scale = np.array(cropped_im_size)[None, ::-1]
        points_for_image = self.point_grids[crop_layer_idx] * points_scale
        data = MaskData()
        for (points,) in batch_iterator(self.points_per_batch, points_for_image):
            data.cat(self._process_batch(points, cropped_im_size, crop_box, orig_size))
        self._reset_image()
        return finish_crop(data, crop_box, iou_threshold=self.box_nms_thresh)


class SamAutomaticMaskGenerator(CropGridGenerator):
    """Generate masks for a whole image by prompting SAM with a grid of points.

    Arguments (defaults as in Meta's reference):
      model: the `Sam` model.
      points_per_side: grid is points_per_side x points_per_side; None requires `point_grids`.
      points_per_batch: points decoded at once (memory vs speed).
      pred_iou_thresh: drop masks whose predicted IoU is not above this (when > 0).
      stability_score_thresh / stability_score_offset: drop masks whose IoU between the
        masks thresholded at +/- offset is below the threshold (when > 0).
      box_nms_thresh: NMS IoU threshold within one crop.
      crop_n_layers: extra layers of image crops (layer i has (2**i)**2 crops).
      crop_nms_thresh: NMS IoU threshold across crops.
      crop_overlap_ratio: overlap of neighbouring crops, as a fraction of the short side.
      crop_n_points_downscale_factor: grid side divided by this per crop layer.
      point_grids: explicit per-layer (N, 2) grids in [0, 1] XY.
      min_mask_region_area: fill holes and drop islands smaller than this (OpenCV), then NMS.
      output_mode: "binary_mask" (HxW bool), "uncompressed_rle" or "coco_rle".
    """

    def __init__(
        self,
        model: Sam,
        points_per_side: int | None = 32,
        points_per_batch: int = 64,
        pred_iou_thresh: float = 0.88,
        stability_score_thresh: float = 0.95,
        stability_score_offset: float = 1.0,
        box_nms_thresh: float = 0.7,
        crop_n_layers: int = 0,
        crop_nms_thresh: float = 0.7,
        crop_overlap_ratio: float = 512 / 1500,
        crop_n_points_downscale_factor: int = 1,
        point_grids: list[np.ndarray] | None = None,
        min_mask_region_area: int = 0,
        output_mode: str = "binary_mask",
    ) -> None:
        self.point_grids = grids_for_generator(
            points_per_side=points_per_side,
            point_grids=point_grids,
            crop_n_layers=crop_n_layers,
            crop_n_points_downscale_factor=crop_n_points_downscale_factor,
            output_mode=output_mode,
            points_per_batch=points_per_batch,
        )
        self.predictor = SamPredictor(model)
        self.points_per_batch = points_per_batch
        self.pred_iou_thresh = pred_iou_thresh
        self.stability_score_thresh = stability_score_thresh
        self.stability_score_offset = stability_score_offset
        self.box_nms_thresh = box_nms_thresh
        self.crop_n_layers = crop_n_layers
        self.crop_nms_thresh = crop_nms_thresh
        self.crop_overlap_ratio = crop_overlap_ratio
        self.crop_n_points_downscale_factor = crop_n_points_downscale_factor
        self.min_mask_region_area = min_mask_region_area
        self.output_mode = output_mode

    @torch.inference_mode()
    def generate(self, image: np.ndarray) -> list[dict[str, Any]]:
        """Masks for an HWC uint8 RGB image (other layouts converted as in `SamPredictor`).

        Returns one record per mask, in the reference's order:
          segmentation: per `output_mode`; area: pixels; bbox: [x, y, w, h];
          predicted_iou: float; point_coords: [[x, y]] prompt; stability_score: float;
          crop_box: [x, y, w, h] of the crop the mask came from.
        """
        image = to_rgb_uint8(image)
        mask_data = self._generate_masks(image)
        if self.min_mask_region_area > 0:
            mask_data = self.postprocess_small_regions(
                mask_data,
                self.min_mask_region_area,
                max(self.box_nms_thresh, self.crop_nms_thresh),
            )
        return mask_records(mask_data, self.output_mode, _xywh)

    def _set_image(self, image: np.ndarray) -> None:
        self.predictor.set_image(image)

    def _reset_image(self) -> None:
        self.predictor.reset_image()

    def _process_batch(
        self,
        points: np.ndarray,
        im_size: tuple[int, int],
        crop_box: list[int],
        orig_size: tuple[int, ...],
    ) -> MaskData:
        transformed_points = self.predictor.transform.apply_coords(points, im_size)
        in_points = torch.as_tensor(
            transformed_points, dtype=torch.float, device=self.predictor.device
        )
        in_labels = torch.ones(in_points.shape[0], dtype=torch.int, device=in_points.device)
        masks, iou_preds, _ = self.predictor.predict_torch(
            in_points[:, None, :], in_labels[:, None], multimask_output=True, return_logits=True
        )
        data = MaskData(
            masks=masks.flatten(0, 1),
            iou_preds=iou_preds.flatten(0, 1),
            points=torch.as_tensor(points.repeat(masks.shape[1], axis=0)),
        )
        del masks

        return filter_and_encode(
            data,
            pred_iou_thresh=self.pred_iou_thresh,
            stability_score_thresh=self.stability_score_thresh,
            stability_score_offset=self.stability_score_offset,
            mask_threshold=self.predictor.model.mask_threshold,
            crop_box=crop_box,
            orig_size=orig_size,
        )

    @staticmethod
    def postprocess_small_regions(
        mask_data: MaskData, min_area: int, nms_thresh: float
    ) -> MaskData:
        """Fill small holes and remove small islands of every mask, then NMS again, preferring
        masks that did not change."""
        if len(mask_data["rles"]) == 0:
            return mask_data
        new_masks = []
        scores = []
        for rle in mask_data["rles"]:
            mask = rle_to_mask(rle)
            mask, changed = remove_small_regions(mask, min_area, mode="holes")
            unchanged = not changed
            mask, changed = remove_small_regions(mask, min_area, mode="islands")
            unchanged = unchanged and not changed
            new_masks.append(torch.as_tensor(mask).unsqueeze(0))
            scores.append(float(unchanged))

        masks = torch.cat(new_masks, dim=0)
        boxes = batched_mask_to_box(masks)
        keep = batched_nms(
            boxes.float(),
            torch.as_tensor(scores),
            torch.zeros_like(boxes[:, 0]),
            iou_threshold=nms_thresh,
        )
        for i_mask in keep.tolist():
            if scores[i_mask] == 0.0:
                mask_data["rles"][i_mask] = mask_to_rle_pytorch(masks[i_mask].unsqueeze(0))[0]
                mask_data["boxes"][i_mask] = boxes[i_mask].numpy()
        mask_data.filter(keep)
        return mask_data
