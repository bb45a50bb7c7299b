"""Hiera trunk of the SAM 2 image encoder (hierarchical ViT with query pooling).

Tokens live in (B, H, W, C) channels-last layout throughout the trunk; only the outputs are NCHW.
Stage i has `embed_dim * 2**i` channels and `num_heads * 2**i` heads; the first block of each
later stage halves the resolution by max-pooling its queries ("q-pooling").
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from annotator.sam.image_encoder import window_partition, window_unpartition

# Meta's Hiera uses nn.LayerNorm with eps 1e-6; torch's default 1e-5 is a measurable miss (20x the
# parity bound on the pack).
HIERA_LAYER_NORM_EPS = 1e-6


def _pool_hw(x: torch.Tensor, pool: nn.MaxPool2d) -> torch.Tensor:
    """Max-pool (B, H, W, C) tokens spatially, staying channels-last."""
    return pool(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


class HieraMLP(nn.Module):
    """Two linear layers with exact (erf) GELU between them; keys `layers.0`, `layers.1`."""

    def __init__(self, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(dim, hidden_dim), nn.Linear(hidden_dim, dim)])
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers[1](self.act(self.layers[0](x)))


class MultiScaleAttention(nn.Module):
    """Self-attention over (B, H, W, C) tokens whose queries may be max-pooled 2x2.

    Arguments:
      dim: input channels.
      dim_out: channels of q/k/v and of the output.
      num_heads: attention heads.
      q_pool: pooling applied to the queries only, which halves the output resolution.
    """

    def __init__(
        self, dim: int, dim_out: int, num_heads: int, q_pool: nn.MaxPool2d | None = None
    ) -> None:
        super().__init__()
        self.dim = dim
        self.dim_out = dim_out
        self.num_heads = num_heads
        self.q_pool = q_pool
        self.qkv = nn.Linear(dim, dim_out * 3)
        self.proj = nn.Linear(dim_out, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, _ = x.shape
        qkv = self.qkv(x).reshape(b, h * w, 3, self.num_heads, -1)
        q, k, v = torch.unbind(qkv, 2)
        if self.q_pool is not None:
            q = _pool_hw(q.reshape(b, h, w, -1), self.q_pool)
            h, w = q.shape[1:3]
            q = q.reshape(b, h * w, self.num_heads, -1)
        # SDPA with its default 1/sqrt(d) scale, as the reference computes it.
        x = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        x = x.transpose(1, 2).reshape(b, h, w, -1)
        return self.proj(x)


class MultiScaleBlock(nn.Module):
    """Pre-norm transformer block with optional windowing and q-pooling.

    Arguments:
      dim / dim_out: input and output channels; they differ on the first block of a stage,
        where the shortcut becomes `pool(proj(norm1(x)))`.
      num_heads: attention heads.
      q_stride: (2, 2) on the first block of stages 2-4 (q-pooling), else None.
      window_size: attention window side at the input resolution; 0 means global attention.
    """

    def __init__(
        self,
        dim: int,
        dim_out: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        q_stride: tuple[int, int] | None = None,
        window_size: int = 0,
    ) -> None:
        super().__init__()
        self.dim = dim
        self.dim_out = dim_out
        self.norm1 = nn.LayerNorm(dim, eps=HIERA_LAYER_NORM_EPS)
        self.window_size = window_size
        self.q_stride = q_stride
        self.pool = nn.MaxPool2d(kernel_size=q_stride, stride=q_stride) if q_stride else None
        self.attn = MultiScaleAttention(dim, dim_out, num_heads=num_heads, q_pool=self.pool)
        self.norm2 = nn.LayerNorm(dim_out, eps=HIERA_LAYER_NORM_EPS)
        self.mlp = HieraMLP(dim_out, int(dim_out * mlp_ratio))
        if dim != dim_out:
            self.proj = nn.Linear(dim, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.norm1(x)
        if self.dim != self.dim_out:
            # The shortcut is taken after norm1, unlike a plain pre-norm block.
            shortcut = self.proj(x)
            if self.pool is not None:
                shortcut = _pool_hw(shortcut, self.pool)

        window_size = self.window_size
        h, w = x.shape[1], x.shape[2]
        pad_hw = (h, w)
        if window_size > 0:
            # The padded tokens are attended to (there is no mask), exactly as in the reference.
            x, pad_hw = window_partition(x, window_size)
        x = self.attn(x)
        if self.q_stride is not None:
            # Each window shrank with its queries: unpartition with the pooled window size and
            # the padding that size needs at the pooled resolution.
            window_size = self.window_size // self.q_stride[0]
            h, w = shortcut.shape[1:3]
            pad_h = (window_size - h % window_size) % window_size if window_size else 0
            pad_w = (window_size - w % window_size) % window_size if window_size else 0
            pad_hw = (h + pad_h, w + pad_w)
        if self.window_size > 0:
            x = window_unpartition(x, window_size, pad_hw, (h, w))

        x = shortcut + x
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    """7x7 conv, stride 4, padding 3: (B, 3, H, W) image to (B, H/4, W/4, C) tokens."""

    def __init__(self, embed_dim: int, in_chans: int = 3) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=7, stride=4, padding=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).permute(0, 2, 3, 1)


class Hiera(nn.Module):
    """The Hiera trunk (Ryali et al. 2023, https://arxiv.org/abs/2306.00989) as SAM 2 uses it.

    Arguments:
      embed_dim: channels of the first stage.
      num_heads: heads of the first stage.
      stages: blocks per stage (4 stages).
      global_att_blocks: indices of blocks with global attention (window 0).
      window_spec: window side per stage; the first block of a stage still uses the previous
        stage's window (at the previous resolution, before its q-pool).
      window_pos_embed_bkg_spatial_size: (H, W) of the learned background position embedding,
        interpolated bicubically to the token grid.
      q_pool: number of stage transitions that q-pool (3: every one).
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        stages: Sequence[int],
        global_att_blocks: Sequence[int],
        window_spec: Sequence[int],
        window_pos_embed_bkg_spatial_size: tuple[int, int],
        q_pool: int = 3,
    ) -> None:
        super().__init__()
        if len(stages) != len(window_spec):
            raise ValueError("stages and window_spec must have one entry per stage")
        self.window_spec = tuple(window_spec)
        self.stage_ends = [sum(stages[:i]) - 1 for i in range(1, len(stages) + 1)]
        self.q_pool_blocks = [end + 1 for end in self.stage_ends[:-1]][:q_pool]
        self.global_att_blocks = tuple(global_att_blocks)
        self.patch_embed = PatchEmbed(embed_dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, embed_dim, *window_pos_embed_bkg_spatial_size))
        self.pos_embed_window = nn.Parameter(
            torch.zeros(1, embed_dim, self.window_spec[0], self.window_spec[0])
        )

        self.blocks = nn.ModuleList()
        cur_stage = 1
        for i in range(sum(stages)):
            dim_out = embed_dim
            # The window lags by one block: a stage's first block runs at the previous stage's
            # resolution, so it uses that stage's window.
            window_size = 0 if i in self.global_att_blocks else self.window_spec[cur_stage - 1]
            if i - 1 in self.stage_ends:
                dim_out = embed_dim * 2
                num_heads = num_heads * 2
                cur_stage += 1
            self.blocks.append(
                MultiScaleBlock(
                    dim=embed_dim,
                    dim_out=dim_out,
                    num_heads=num_heads,
                    q_stride=(2, 2) if i in self.q_pool_blocks else None,
                    window_size=window_size,
                )
            )
            embed_dim = dim_out
        # Deepest first, the order the FPN neck's `convs` follow.
        self.channel_list = [self._block(i).dim_out for i in self.stage_ends[::-1]]

    def _block(self, index: int) -> MultiScaleBlock:
        block = self.blocks[index]
        assert isinstance(block, MultiScaleBlock)
        return block

    def _get_pos_embed(self, hw: tuple[int, int]) -> torch.Tensor:
        """(1, H, W, C) position embedding: bicubic background plus the tiled window embedding."""
        pos_embed = F.interpolate(self.pos_embed, size=hw, mode="bicubic", align_corners=False)
        window = self.pos_embed_window
        reps = [a // b for a, b in zip(pos_embed.shape, window.shape, strict=True)]
        pos_embed = pos_embed + window.tile(reps)
        return pos_embed.permute(0, 2, 3, 1)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Run the trunk.

        Arguments:
          x: (B, 3, 1024, 1024) float32 normalised image.
        Returns:
          four NCHW feature maps, strides 4, 8, 16, 32 (highest resolution first), with
          `embed_dim * 2**i` channels.
        """
        x = self.patch_embed(x)
        x = x + self._get_pos_embed((x.shape[1], x.shape[2]))
        outputs = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.stage_ends:
                outputs.append(x.permute(0, 3, 1, 2))
        return outputs
