"""FPN neck of the SAM 2 image encoder, and the encoder (trunk + neck + scalp) around it."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .hiera import Hiera


class FpnNeck(nn.Module):
    """Lateral 1x1 convs to `d_model` channels plus a nearest x2 top-down path on some levels.

    Arguments:
      d_model: output channels of every level (256).
      backbone_channel_list: trunk channels, deepest level first (e.g. 768, 384, 192, 96), so
        `convs[0]` acts on the stride-32 map.
      fpn_top_down_levels: levels (0 = stride 4) that receive the top-down features; SAM 2 uses
        [2, 3], so the stride-4 and stride-8 outputs are lateral features only.

    Meta's neck also computes sine position encodings per level. Image mode never reads them
    (only the video memory attention does), so they are not computed here.
    """

    def __init__(
        self,
        d_model: int,
        backbone_channel_list: Sequence[int],
        fpn_top_down_levels: Sequence[int] = (2, 3),
    ) -> None:
        super().__init__()
        self.d_model = d_model
        self.backbone_channel_list = list(backbone_channel_list)
        self.convs = nn.ModuleList()
        for dim in backbone_channel_list:
            lateral = nn.Sequential()
            lateral.add_module("conv", nn.Conv2d(dim, d_model, kernel_size=1))
            self.convs.append(lateral)
        self.fpn_top_down_levels = list(fpn_top_down_levels)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        """Fuse trunk features.

        Arguments:
          xs: four NCHW trunk maps, stride 4 first.
        Returns:
          four (B, d_model, H_i, W_i) maps, stride 4 first.
        """
        if len(xs) != len(self.convs):
            raise ValueError(f"expected {len(self.convs)} feature maps, got {len(xs)}")
        n = len(self.convs) - 1
        out: list[torch.Tensor] = [xs[0]] * len(xs)
        prev: torch.Tensor | None = None
        for i in range(n, -1, -1):
            lateral = self.convs[n - i](xs[i])
            if i in self.fpn_top_down_levels and prev is not None:
                top_down = F.interpolate(prev.float(), scale_factor=2.0, mode="nearest")
                prev = lateral + top_down
            else:
                # Off the top-down levels the chain restarts from the lateral features alone.
                prev = lateral
            out[i] = prev
        return out


class ImageEncoder(nn.Module):
    """Hiera trunk, FPN neck, then drop the `scalp` lowest-resolution levels.

    Arguments:
      trunk: the `Hiera` trunk.
      neck: the `FpnNeck`; its channel list must be the trunk's.
      scalp: how many of the deepest levels to discard (1 in SAM 2: stride 32 is unused).
    """

    def __init__(self, trunk: Hiera, neck: FpnNeck, scalp: int = 1) -> None:
        super().__init__()
        if trunk.channel_list != neck.backbone_channel_list:
            raise ValueError(
                f"trunk channels {trunk.channel_list} do not match the neck's "
                f"{neck.backbone_channel_list}"
            )
        self.trunk = trunk
        self.neck = neck
        self.scalp = scalp

    def forward(self, sample: torch.Tensor) -> list[torch.Tensor]:
        """(B, 3, 1024, 1024) normalised image to the FPN maps, stride 4 first.

        Returns:
          with `scalp=1`, three (B, 256, H, W) maps at 256², 128² and 64².
        """
        features = self.neck(self.trunk(sample))
        if self.scalp > 0:
            features = features[: -self.scalp]
        return features
