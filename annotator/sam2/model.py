"""The SAM 2 model as image mode uses it: encoder, prompt encoder, mask decoder."""

from __future__ import annotations

import torch
from torch import nn

from .mask_decoder import MaskDecoder
from .memory import MemoryConfig, add_video_modules
from .neck import ImageEncoder
from .prompt_encoder import PromptEncoder

IMAGE_SIZE = 1024  # the encoder's square input side
HIDDEN_DIM = 256  # width of the neck outputs and of the SAM heads
EMBEDDING_SIZE = IMAGE_SIZE // 16  # 64: side of `image_embed`


class SAM2Image(nn.Module):
    """SAM 2 (or 2.1) with Meta's parameter names; only the image path has a forward.

    Arguments:
      image_encoder: Hiera trunk + FPN neck (`scalp=1`).
      sam_prompt_encoder: SAM 2's `PromptEncoder`.
      sam_mask_decoder: SAM 2's `MaskDecoder` (high-res features, object score).
      memory: sizes of the video modules, declared so checkpoints load strictly (see
        `memory.py`) but never run here.
    """

    image_size = IMAGE_SIZE
    # Set by `build_sam2` from the checkpoint: a `MODEL_REGISTRY` name and "2.1" or "2.0".
    model_name: str = "custom"
    sam_version: str = "2.1"

    def __init__(
        self,
        image_encoder: ImageEncoder,
        sam_prompt_encoder: PromptEncoder,
        sam_mask_decoder: MaskDecoder,
        memory: MemoryConfig,
    ) -> None:
        super().__init__()
        self.image_encoder = image_encoder
        self.sam_prompt_encoder = sam_prompt_encoder
        self.sam_mask_decoder = sam_mask_decoder
        # Video mode adds this to frames without memories; Meta's image predictor adds it too
        # (`directly_add_no_mem_embed`), so the decoder sees features as it was trained on.
        self.no_mem_embed = nn.Parameter(torch.zeros(1, 1, HIDDEN_DIM))
        self.memory_config = memory
        add_video_modules(self, memory)

    @property
    def device(self) -> torch.device:
        return self.no_mem_embed.device

    def forward_image(self, images: torch.Tensor) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        """Encode preprocessed images into the features the mask decoder reads.

        Arguments:
          images: (B, 3, 1024, 1024) float32, resized and normalised (see `transforms.py`).
        Returns:
          {"image_embed": (B, 256, 64, 64) stride-16 map plus `no_mem_embed`,
           "high_res_feats": [(B, 32, 256, 256) through conv_s0, (B, 64, 128, 128) through
           conv_s1]}, all float32. This is the layout of Meta's `predictor._features`.
        """
        if images.ndim != 4 or images.shape[1:] != (3, IMAGE_SIZE, IMAGE_SIZE):
            raise ValueError(
                f"images must be (B, 3, {IMAGE_SIZE}, {IMAGE_SIZE}), got {tuple(images.shape)}"
            )
        feat_s0, feat_s1, feat_s2 = self.image_encoder(images)
        # Projected once per image here rather than once per prompt in the decoder.
        high_res = [self.sam_mask_decoder.conv_s0(feat_s0), self.sam_mask_decoder.conv_s1(feat_s1)]
        image_embed = feat_s2 + self.no_mem_embed.view(1, -1, 1, 1)
        return {"image_embed": image_embed, "high_res_feats": high_res}
