"""SAM 2 pre- and post-processing (Meta's `SAM2Transforms`), without torchvision.

Coordinate frames: "original" is the image as given, (h, w) pixels, XY; "input" is the
encoder's 1024x1024 square. SAM 2 resizes the image to the square *without* keeping the aspect
ratio or padding (unlike SAM 1), so a point maps per axis: (x / w * 1024, y / h * 1024).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

PIXEL_MEAN = (0.485, 0.456, 0.406)  # on the [0, 1] scale
PIXEL_STD = (0.229, 0.224, 0.225)


def image_to_input(image: np.ndarray, resolution: int, device: torch.device) -> torch.Tensor:
    """HWC uint8 RGB image to the encoder input.

    Arguments:
      image: (H, W, 3) uint8 RGB.
      resolution: side of the square input (1024).
      device: where the result goes.
    Returns:
      (3, resolution, resolution) float32, normalised.
    """
    # Read-only arrays (an image decoded from bytes) are copied: torch warns on them.
    array = np.ascontiguousarray(image)
    x = torch.from_numpy(array if array.flags.writeable else array.copy()).to(device)
    x = x.permute(2, 0, 1).float() / 255.0
    # torchvision's Resize on a float tensor, as the reference applies it: bilinear with
    # antialias (which matters only when a side shrinks). Resizing the uint8 image with PIL
    # first, the SAM 1 habit, is off by 0.017 per pixel.
    x = F.interpolate(
        x[None], (resolution, resolution), mode="bilinear", align_corners=False, antialias=True
    )[0]
    mean = torch.tensor(PIXEL_MEAN, device=device).view(3, 1, 1)
    std = torch.tensor(PIXEL_STD, device=device).view(3, 1, 1)
    return (x - mean) / std


def coords_to_input(
    coords: torch.Tensor, orig_hw: tuple[int, int], resolution: int, normalize: bool
) -> torch.Tensor:
    """Map (..., 2) XY coordinates to the input frame.

    Arguments:
      coords: (..., 2) float32 XY; in original pixels when `normalize`, else already in [0, 1].
      orig_hw: (h, w) of the original image.
      resolution: input side (1024).
      normalize: divide by (w, h) first. With False the coordinates are only multiplied by the
        resolution (Meta's meaning: "already normalised", not "already in 1024 space").
    Returns:
      (..., 2) float32 XY in input pixels, unrounded.
    """
    if normalize:
        h, w = orig_hw
        coords = coords.clone()
        coords[..., 0] = coords[..., 0] / w
        coords[..., 1] = coords[..., 1] / h
    return coords * resolution


def upscale_logits(low_res: torch.Tensor, orig_hw: tuple[int, int]) -> torch.Tensor:
    """(B, C, 256, 256) low-res logits straight to (B, C, h, w), bilinear, unclamped.

    One step to the original size: there is no padding to crop (the resize was a square
    stretch), and clamping to +-32 happens only on the returned low-res copy, after this.
    """
    return F.interpolate(low_res.float(), orig_hw, mode="bilinear", align_corners=False)


def fill_small_regions(
    low_res: torch.Tensor, threshold: float, max_hole_area: float, max_sprinkle_area: float
) -> torch.Tensor:
    """Fill small holes and remove small sprinkles in low-res logits, as Meta's predictor does.

    Holes are 8-connected background components (logit <= threshold) of area <= max_hole_area,
    set to threshold + 10; sprinkles are foreground components of area <= max_sprinkle_area,
    set to threshold - 10. With both areas 0 (the defaults) the input is returned unchanged.

    Arguments:
      low_res: (B, C, 256, 256) float32 logits.
    Returns:
      (B, C, 256, 256) float32 logits (a new tensor when anything was filled).
    """
    if max_hole_area <= 0 and max_sprinkle_area <= 0:
        return low_res
    import cv2  # only needed for this optional clean-up

    out = low_res.float().cpu().numpy().copy()
    flat = out.reshape(-1, *out.shape[-2:])
    for plane in flat:
        # Both selections are taken from the logits as they came (the tuple is built before
        # the first fill), as the reference labels both on the unfilled mask.
        for area, select, value in (
            (max_hole_area, plane <= threshold, threshold + 10.0),
            (max_sprinkle_area, plane > threshold, threshold - 10.0),
        ):
            if area <= 0:
                continue
            _, labels, stats, _ = cv2.connectedComponentsWithStats(
                select.astype(np.uint8), connectivity=8
            )
            small = np.flatnonzero(stats[:, cv2.CC_STAT_AREA] <= area)
            small = small[small > 0]  # label 0 is the other class
            if small.size:
                plane[np.isin(labels, small)] = value
    return torch.from_numpy(out).to(low_res.device)
