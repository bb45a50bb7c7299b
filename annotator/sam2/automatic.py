"""SAM 2 everything mode: masks for a grid of point prompts over the image (and optional crops).

Meta's `SAM2AutomaticMaskGenerator` with the same parameters and record format. The mask
bookkeeping (grids, crops, NMS, RLE) is SAM 1's and comes from `annotator.sam.amg` and
`annotator.sam.automatic` (`CropGridGenerator`, `filter_and_encode`); what differs
is the predictor (SAM 2's transforms and decoder), the `mask_threshold`, `multimask_output` and
`use_m2m` options, and that `min_mask_region_area` is applied by the predictor on the low-res
logits (Meta's `generate()` never calls the OpenCV clean-up SAM 1 runs afterwards).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from annotator.sam.amg import MaskData, batch_iterator, box_xyxy_to_xywh
from annotator.sam.automatic import (
    OUTPUT_MODES,
    CropGridGenerator,
    filter_and_encode,
    grids_for_generator,
    mask_records,
)
from annotator.sam.predictor import to_rgb_uint8

from .model import SAM2Image
from .predictor import SAM2ImagePredictor
from .transforms import coords_to_input

__all__ = ["OUTPUT_MODES", "SAM2AutomaticMaskGenerator"]


def _xywh(box_xyxy: Any) -> list[float]:
    """[x, y, w, h] as floats, like Meta's SAM 2 records (its MaskData turns boxes to float)."""
    return [float(v) for v in box_xyxy_to_xywh(torch.as_tensor(box_xyxy)).tolist()]


class SAM2AutomaticMaskGenerator(CropGridGenerator):
    """Generate masks for a whole image by prompting SAM 2 with a grid of points.

    Arguments (defaults as in Meta's reference, tuned for Hiera-L):
      model: the `SAM2Image` model.
      points_per_side: the grid is points_per_side²; None requires `point_grids`.
      points_per_batch: points decoded at once (memory vs speed).
      pred_iou_thresh: drop masks whose predicted IoU is not above this (when > 0).
      stability_score_thresh / stability_score_offset: drop masks whose IoU between the masks
        thresholded at mask_threshold +/- offset is below the threshold (when > 0).
      mask_threshold: logit threshold of the masks.
      box_nms_thresh: NMS IoU threshold within one crop.
      crop_n_layers / crop_nms_thresh / crop_overlap_ratio / crop_n_points_downscale_factor:
        extra layers of image crops, as in SAM 1.
      point_grids: explicit per-layer (N, 2) grids in [0, 1] XY.
      min_mask_region_area: passed to the predictor as max hole and sprinkle area.
      output_mode: "binary_mask" (HxW bool), "uncompressed_rle" or "coco_rle".
      use_m2m: refine each mask once more, feeding its low-res logits back as a mask prompt.
      multimask_output: three masks per grid point (True) or the dynamic single mask.
    """

    def __init__(
        self,
        model: SAM2Image,
        points_per_side: int | None = 32,
        points_per_batch: int = 64,
        pred_iou_thresh: float = 0.8,
        stability_score_thresh: float = 0.95,
        stability_score_offset: float = 1.0,
        mask_threshold: float = 0.0,
        box_nms_thresh: float = 0.7,
        crop_n_layers: int = 0,
        crop_nms_thresh: float = 0.7,
        crop_overlap_ratio: float = 512 / 1500,
        crop_n_points_downscale_factor: int = 1,
        point_grids: list[np.ndarray] | None = None,
        min_mask_region_area: int = 0,
        output_mode: str = "binary_mask",
        use_m2m: bool = False,
        multimask_output: bool = True,
    ) -> None:
        self.point_grids = grids_for_generator(
            points_per_side=points_per_side,
            point_grids=point_grids,
            crop_n_layers=crop_n_layers,
            crop_n_points_downscale_factor=crop_n_points_downscale_factor,
            output_mode=output_mode,
            points_per_batch=points_per_batch,
        )
        self.predictor = SAM2ImagePredictor(
            model, max_hole_area=min_mask_region_area, max_sprinkle_area=min_mask_region_area
        )
        self.points_per_batch = points_per_batch
        self.pred_iou_thresh = pred_iou_thresh
        self.stability_score_thresh = stability_score_thresh
        self.stability_score_offset = stability_score_offset
        self.mask_threshold = mask_threshold
        self.box_nms_thresh = box_nms_thresh
        self.crop_n_layers = crop_n_layers
        self.crop_nms_thresh = crop_nms_thresh
        self.crop_overlap_ratio = crop_overlap_ratio
        self.crop_n_points_downscale_factor = crop_n_points_downscale_factor
        self.min_mask_region_area = min_mask_region_area
        self.output_mode = output_mode
        self.use_m2m = use_m2m
        self.multimask_output = multimask_output

    @torch.inference_mode()
    def generate(self, image: np.ndarray) -> list[dict[str, Any]]:
        """Masks for an HWC uint8 RGB image (other layouts converted by `to_rgb_uint8`).

        Returns:
          one record per mask, in the reference's order (NMS order, by predicted IoU):
          segmentation (per `output_mode`, original size), area (pixels), bbox ([x, y, w, h]
          from inclusive max pixels), predicted_iou, point_coords ([[x, y]] in original
          pixels), stability_score, crop_box ([x, y, w, h]).
        """
        image = to_rgb_uint8(image)
        mask_data = self._generate_masks(image)
        return mask_records(mask_data, self.output_mode, _xywh)

    def _set_image(self, image: np.ndarray) -> None:
        self.predictor.set_image(image)

    def _reset_image(self) -> None:
        self.predictor.reset_predictor()

    def _process_batch(
        self,
        points: np.ndarray,
        im_size: tuple[int, int],
        crop_box: list[int],
        orig_size: tuple[int, ...],
    ) -> MaskData:
        # float32 like the reference: the records' point_coords are these values.
        points_t = torch.as_tensor(points, dtype=torch.float32, device=self.predictor.device)
        in_points = coords_to_input(points_t, im_size, self.predictor.model.image_size, True)
        in_labels = torch.ones(in_points.shape[0], dtype=torch.int32, device=in_points.device)
        result = self.predictor._predict(
            in_points[:, None, :],
            in_labels[:, None],
            multimask_output=self.multimask_output,
            return_logits=True,
        )
        masks = result.masks
        data = MaskData(
            masks=masks.flatten(0, 1),
            iou_preds=result.iou_predictions.flatten(0, 1),
            points=points_t.repeat_interleave(masks.shape[1], dim=0),
            low_res_masks=result.low_res_masks.flatten(0, 1),
        )
        del masks
        if self.use_m2m:
            labels = torch.ones(len(data["points"]), dtype=torch.int32, device=in_points.device)
            data["masks"], data["iou_preds"] = self._refine_with_m2m(
                coords_to_input(data["points"], im_size, self.predictor.model.image_size, True),
                labels,
                data["low_res_masks"],
            )
        del data["low_res_masks"]
        return filter_and_encode(
            data,
            pred_iou_thresh=self.pred_iou_thresh,
            stability_score_thresh=self.stability_score_thresh,
            stability_score_offset=self.stability_score_offset,
            # SAM 1 reads the threshold off its model; SAM 2's generator takes it as an option.
            mask_threshold=self.mask_threshold,
            crop_box=crop_box,
            orig_size=orig_size,
        )

    def _refine_with_m2m(
        self, points: torch.Tensor, labels: torch.Tensor, low_res_masks: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One more single-mask pass per mask with its own low-res logits as the mask prompt.

        Arguments:
          points: (M, 2) XY in the 1024² frame; labels: (M,); low_res_masks: (M, 256, 256).
        Returns:
          (M, h, w) logits at the crop's size and (M,) IoU scores.
        """
        masks, ious = [], []
        for cur_points, cur_labels, low_res in batch_iterator(
            self.points_per_batch, points, labels, low_res_masks
        ):
            result = self.predictor._predict(
                cur_points[:, None, :],
                cur_labels[:, None],
                mask_input=low_res[:, None, :, :],
                multimask_output=False,
                return_logits=True,
            )
            masks.append(result.masks[:, 0])
            ious.append(result.iou_predictions[:, 0])
        return torch.cat(masks), torch.cat(ious)
