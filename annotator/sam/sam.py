"""The `Sam` module: image encoder, prompt encoder and mask decoder plus pre/post-processing."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .mask_decoder import MaskDecoder
from .prompt_encoder import PromptEncoder

PIXEL_MEAN = (123.675, 116.28, 103.53)
PIXEL_STD = (58.395, 57.12, 57.375)


class Sam(nn.Module):
    """Segment Anything: predicts object masks from an image and prompts.

    Arguments:
      image_encoder: backbone mapping (B, 3, 1024, 1024) to (B, 256, 64, 64); must have `img_size`.
      prompt_encoder: `PromptEncoder`.
      mask_decoder: `MaskDecoder`.
      model_type: registry name of the variant ("vit_b", ..., "mobile_sam", or "custom").
      config: the architecture hyper-parameters the model was built with.
    """

    mask_threshold: float = 0.0
    image_format: str = "RGB"
    pixel_mean: torch.Tensor
    pixel_std: torch.Tensor

    def __init__(
        self,
        image_encoder: nn.Module,
        prompt_encoder: PromptEncoder,
        mask_decoder: MaskDecoder,
        pixel_mean: tuple[float, float, float] = PIXEL_MEAN,
        pixel_std: tuple[float, float, float] = PIXEL_STD,
        model_type: str = "custom",
        config: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.image_encoder = image_encoder
        self.prompt_encoder = prompt_encoder
        self.mask_decoder = mask_decoder
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(-1, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1, 1, 1), False)
        self.model_type = model_type
        self.config: dict[str, Any] = dict(config or {})

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    @property
    def img_size(self) -> int:
        size = self.image_encoder.img_size
        assert isinstance(size, int)
        return size

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise (B, 3, h, w) RGB pixel values (0..255) and zero-pad to (B, 3, 1024, 1024)."""
        x = (x - self.pixel_mean) / self.pixel_std
        h, w = x.shape[-2:]
        return F.pad(x, (0, self.img_size - w, 0, self.img_size - h))

    def postprocess_masks(
        self,
        masks: torch.Tensor,
        input_size: tuple[int, ...],
        original_size: tuple[int, ...],
    ) -> torch.Tensor:
        """Upscale (B, C, 256, 256) low-res logits to the original image.

        Arguments:
          masks: low-res mask logits from the decoder.
          input_size: (h, w) of the resized image fed to the encoder, before padding.
          original_size: (H, W) of the original image.
        Returns:
          (B, C, H, W) logits.
        """
        masks = F.interpolate(
            masks, (self.img_size, self.img_size), mode="bilinear", align_corners=False
        )
        masks = masks[..., : input_size[0], : input_size[1]]
        return F.interpolate(
            masks,
            (int(original_size[0]), int(original_size[1])),
            mode="bilinear",
            align_corners=False,
        )
