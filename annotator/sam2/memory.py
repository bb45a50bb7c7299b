"""The video-tracking parameters of a SAM 2 checkpoint, held but never run.

Every official SAM 2 checkpoint carries the memory attention, the memory encoder and the object
pointer projections used to track objects across video frames. Image mode never touches them
(Meta's `SAM2ImagePredictor` reads only `image_encoder`, `no_mem_embed`, `sam_prompt_encoder`
and `sam_mask_decoder`). We still declare them, with Meta's names and shapes, so that:
  - a checkpoint loads strictly: an unexpected or missing key is an error, never ignored;
  - a model built without weights has exactly the official state dict (keys, shapes, count);
  - a future video mode can load the same files.
The modules below have no `forward` on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from annotator.sam.common import LayerNorm2d
from annotator.sam.mask_decoder import MLP

HIDDEN_DIM = 256  # d_model of the SAM heads and the memory attention
MEM_DIM = 64  # channels of a stored memory
NUM_MASKMEM = 7  # memory frames (1 conditioning + 6 recent)


@dataclass(frozen=True)
class MemoryConfig:
    """Sizes of the video modules, readable from a checkpoint's keys.

    Arguments:
      attention_layers: memory-attention layers (4 in every official checkpoint).
      attention_ff_dim: their feed-forward width (2048).
      fuser_layers: CXBlocks in the memory encoder's fuser (2).
      sam21: SAM 2.1 adds `no_obj_embed_spatial` and `obj_ptr_tpos_proj`.
    """

    attention_layers: int = 4
    attention_ff_dim: int = 2048
    fuser_layers: int = 2
    sam21: bool = True


class _Projections(nn.Module):
    """q/k/v/out projections of Meta's `RoPEAttention` (its rotary tables are not parameters)."""

    def __init__(self, dim: int, kv_in_dim: int) -> None:
        super().__init__()
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(kv_in_dim, dim)
        self.v_proj = nn.Linear(kv_in_dim, dim)
        self.out_proj = nn.Linear(dim, dim)


class _MemoryAttentionLayer(nn.Module):
    def __init__(self, ff_dim: int) -> None:
        super().__init__()
        self.self_attn = _Projections(HIDDEN_DIM, HIDDEN_DIM)
        self.cross_attn_image = _Projections(HIDDEN_DIM, MEM_DIM)
        self.linear1 = nn.Linear(HIDDEN_DIM, ff_dim)
        self.linear2 = nn.Linear(ff_dim, HIDDEN_DIM)
        self.norm1 = nn.LayerNorm(HIDDEN_DIM)
        self.norm2 = nn.LayerNorm(HIDDEN_DIM)
        self.norm3 = nn.LayerNorm(HIDDEN_DIM)


class MemoryAttention(nn.Module):
    """Parameters of Meta's `MemoryAttention` (cross-attention of a frame to past memories)."""

    def __init__(self, num_layers: int, ff_dim: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(_MemoryAttentionLayer(ff_dim) for _ in range(num_layers))
        self.norm = nn.LayerNorm(HIDDEN_DIM)


class _CXBlock(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = LayerNorm2d(dim)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), 1e-6))


class _Fuser(nn.Module):
    def __init__(self, num_layers: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(_CXBlock(HIDDEN_DIM) for _ in range(num_layers))


class _MaskDownSampler(nn.Module):
    """Four (conv 3x3 s2, LayerNorm2d, GELU) steps, 1 -> 4 -> 16 -> 64 -> 256, then a 1x1 conv."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 1
        for _ in range(4):
            out = channels * 4
            layers += [
                nn.Conv2d(channels, out, 3, stride=2, padding=1),
                LayerNorm2d(out),
                nn.GELU(),
            ]
            channels = out
        layers.append(nn.Conv2d(channels, HIDDEN_DIM, kernel_size=1))
        self.encoder = nn.Sequential(*layers)


class MemoryEncoder(nn.Module):
    """Parameters of Meta's `MemoryEncoder` (turns a frame's mask and features into a memory)."""

    def __init__(self, fuser_layers: int) -> None:
        super().__init__()
        self.mask_downsampler = _MaskDownSampler()
        self.pix_feat_proj = nn.Conv2d(HIDDEN_DIM, HIDDEN_DIM, kernel_size=1)
        self.fuser = _Fuser(fuser_layers)
        self.out_proj = nn.Conv2d(HIDDEN_DIM, MEM_DIM, kernel_size=1)


def add_video_modules(model: nn.Module, config: MemoryConfig) -> None:
    """Attach the video-only modules and parameters to `model` under Meta's top-level names."""
    model.memory_attention = MemoryAttention(config.attention_layers, config.attention_ff_dim)
    model.memory_encoder = MemoryEncoder(config.fuser_layers)
    model.maskmem_tpos_enc = nn.Parameter(torch.zeros(NUM_MASKMEM, 1, 1, MEM_DIM))
    model.no_mem_pos_enc = nn.Parameter(torch.zeros(1, 1, HIDDEN_DIM))
    model.no_obj_ptr = nn.Parameter(torch.zeros(1, HIDDEN_DIM))
    model.mask_downsample = nn.Conv2d(1, 1, kernel_size=4, stride=4)
    model.obj_ptr_proj = MLP(HIDDEN_DIM, HIDDEN_DIM, HIDDEN_DIM, 3)
    if config.sam21:
        model.no_obj_embed_spatial = nn.Parameter(torch.zeros(1, MEM_DIM))
        model.obj_ptr_tpos_proj = nn.Linear(HIDDEN_DIM, MEM_DIM)
