"""TinyViT-5M image encoder of MobileSAM (state-dict compatible with `mobile_sam.pt`)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from .common import LayerNorm2d


class Conv2d_BN(nn.Sequential):  # noqa: N801 - the checkpoint's module name
    """Bias-free convolution followed by BatchNorm (`c`, `bn`)."""

    def __init__(
        self,
        in_chans: int,
        out_chans: int,
        ks: int = 1,
        stride: int = 1,
        pad: int = 0,
        groups: int = 1,
    ) -> None:
        super().__init__()
        self.add_module(
            "c", nn.Conv2d(in_chans, out_chans, ks, stride, pad, groups=groups, bias=False)
        )
        self.add_module("bn", nn.BatchNorm2d(out_chans))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return super().forward(x)
        # Inference: fold the BatchNorm statistics into the convolution. Recomputed on every
        # call (a few KB of weights) rather than cached, so it can never go stale after
        # load_state_dict - the failure mode of the reference's attention-bias cache.
        conv, bn = self.c, self.bn
        assert isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)
        assert bn.running_var is not None and bn.running_mean is not None
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        weight = conv.weight * scale[:, None, None, None]
        bias = bn.bias - bn.running_mean * scale
        return F.conv2d(x, weight, bias, conv.stride, conv.padding, conv.dilation, conv.groups)


class PatchEmbed(nn.Module):
    """Two stride-2 3x3 convolutions: (B, 3, 1024, 1024) -> (B, C, 256, 256)."""

    def __init__(self, in_chans: int, embed_dim: int, resolution: int) -> None:
        super().__init__()
        self.patches_resolution = (resolution // 4, resolution // 4)
        self.seq = nn.Sequential(
            Conv2d_BN(in_chans, embed_dim // 2, 3, 2, 1),
            nn.GELU(),
            Conv2d_BN(embed_dim // 2, embed_dim, 3, 2, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.seq(x)


class MBConv(nn.Module):
    """Inverted residual block (1x1 expand, 3x3 depthwise, 1x1 project) on NCHW."""

    def __init__(self, in_chans: int, out_chans: int, expand_ratio: float) -> None:
        super().__init__()
        hidden = int(in_chans * expand_ratio)
        self.conv1 = Conv2d_BN(in_chans, hidden, ks=1)
        self.act1 = nn.GELU()
        self.conv2 = Conv2d_BN(hidden, hidden, ks=3, stride=1, pad=1, groups=hidden)
        self.act2 = nn.GELU()
        self.conv3 = Conv2d_BN(hidden, out_chans, ks=1)
        self.act3 = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.act1(self.conv1(x))
        x = self.act2(self.conv2(x))
        x = self.conv3(x)
        return self.act3(x + shortcut)


class PatchMerging(nn.Module):
    """Downsampling between stages; takes NCHW or (B, L, C) tokens, returns (B, L', C')."""

    def __init__(self, input_resolution: tuple[int, int], dim: int, out_dim: int) -> None:
        super().__init__()
        self.input_resolution = input_resolution
        self.dim = dim
        self.out_dim = out_dim
        self.act = nn.GELU()
        self.conv1 = Conv2d_BN(dim, out_dim, 1, 1, 0)
        # MobileSAM keeps 64x64 resolution into the last stage: its widths (320/448/576) use
        # stride 1 here.
        stride = 1 if out_dim in (320, 448, 576) else 2
        self.conv2 = Conv2d_BN(out_dim, out_dim, 3, stride, 1, groups=out_dim)
        self.conv3 = Conv2d_BN(out_dim, out_dim, 1, 1, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 3:
            h, w = self.input_resolution
            x = x.view(x.shape[0], h, w, -1).permute(0, 3, 1, 2)
        x = self.act(self.conv1(x))
        x = self.act(self.conv2(x))
        x = self.conv3(x)
        return x.flatten(2).transpose(1, 2)


class _Stage(nn.Module):
    """A TinyViT stage: its `blocks` in turn, then an optional PatchMerging (`downsample`)."""

    def __init__(
        self,
        dim: int,
        input_resolution: tuple[int, int],
        blocks: Iterable[nn.Module],
        out_dim: int | None,
        downsample: bool,
    ) -> None:
        super().__init__()
        self.dim = dim
        self.input_resolution = input_resolution
        self.blocks = nn.ModuleList(blocks)
        self.downsample: nn.Module | None = None
        if downsample:
            self.downsample = PatchMerging(input_resolution, dim=dim, out_dim=out_dim or dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for blk in self.blocks:
            x = blk(x)
        if self.downsample is not None:
            x = self.downsample(x)
        return x


class ConvLayer(_Stage):
    """First stage: MBConv blocks, then PatchMerging."""

    def __init__(
        self,
        dim: int,
        input_resolution: tuple[int, int],
        depth: int,
        out_dim: int | None,
        downsample: bool,
        conv_expand_ratio: float = 4.0,
    ) -> None:
        blocks = (MBConv(dim, dim, conv_expand_ratio) for _ in range(depth))
        super().__init__(dim, input_resolution, blocks, out_dim, downsample)


class Mlp(nn.Module):
    """Pre-norm MLP (`norm`, `fc1`, GELU, `fc2`)."""

    def __init__(self, in_features: int, hidden_features: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(in_features)
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.fc2 = nn.Linear(hidden_features, in_features)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(self.norm(x))))


class Attention(nn.Module):
    """Windowed attention with a learned bias per head and per |dy|, |dx| offset.

    Input and output (B', ws*ws, C); the LayerNorm is applied inside.
    """

    attention_bias_idxs: torch.Tensor

    def __init__(self, dim: int, key_dim: int, num_heads: int, resolution: tuple[int, int]) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.scale = key_dim**-0.5
        self.key_dim = key_dim
        self.d = key_dim  # attn_ratio 1 in every TinyViT block
        self.dh = self.d * num_heads
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, self.dh + 2 * key_dim * num_heads)
        self.proj = nn.Linear(self.dh, dim)
        # Explicit softmax attention by default: for these 49- and 196-token windows it measured
        # ~15% faster on CPU than scaled_dot_product_attention with a float bias mask (which
        # gets expanded to every window). Both paths are tested to agree.
        self.use_sdpa = False
        self.use_attention_biases = True

        points = list(itertools.product(range(resolution[0]), range(resolution[1])))
        offsets: dict[tuple[int, int], int] = {}
        idxs = []
        for p1 in points:
            for p2 in points:
                offset = (abs(p1[0] - p2[0]), abs(p1[1] - p2[1]))
                offsets.setdefault(offset, len(offsets))
                idxs.append(offsets[offset])
        n = len(points)
        self.attention_biases = nn.Parameter(torch.zeros(num_heads, len(offsets)))
        self.register_buffer(
            "attention_bias_idxs", torch.tensor(idxs, dtype=torch.long).view(n, n), persistent=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        qkv = self.qkv(self.norm(x)).view(b, n, self.num_heads, -1)
        q, k, v = qkv.split([self.key_dim, self.key_dim, self.d], dim=3)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        bias: torch.Tensor | None = None
        if self.use_attention_biases:
            bias = self.attention_biases[:, self.attention_bias_idxs].to(q.dtype)
        if self.use_sdpa:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=self.scale)
        else:
            attn = (q @ k.transpose(-2, -1)) * self.scale
            if bias is not None:
                attn = attn + bias
            out = attn.softmax(dim=-1) @ v
        return self.proj(out.transpose(1, 2).reshape(b, n, self.dh))


class TinyViTBlock(nn.Module):
    """Windowed attention, depthwise 3x3 local conv, MLP; tokens are (B, H*W, C)."""

    def __init__(
        self,
        dim: int,
        input_resolution: tuple[int, int],
        num_heads: int,
        window_size: int = 7,
        mlp_ratio: float = 4.0,
        local_conv_size: int = 3,
    ) -> None:
        super().__init__()
        self.dim = dim
        self.input_resolution = input_resolution
        self.num_heads = num_heads
        self.window_size = window_size
        self.attn = Attention(dim, dim // num_heads, num_heads, (window_size, window_size))
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.local_conv = Conv2d_BN(
            dim, dim, ks=local_conv_size, stride=1, pad=local_conv_size // 2, groups=dim
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = self.input_resolution
        b, length, c = x.shape
        ws = self.window_size
        res_x = x
        if h == ws and w == ws:
            x = self.attn(x)
        else:
            x = x.view(b, h, w, c)
            pad_b = (ws - h % ws) % ws
            pad_r = (ws - w % ws) % ws
            if pad_b > 0 or pad_r > 0:
                # The padded tokens are real keys for the window (no mask), as in the reference.
                x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))
            ph, pw = h + pad_b, w + pad_r
            nh, nw = ph // ws, pw // ws
            x = x.view(b, nh, ws, nw, ws, c).transpose(2, 3).reshape(b * nh * nw, ws * ws, c)
            x = self.attn(x)
            x = x.view(b, nh, nw, ws, ws, c).transpose(2, 3).reshape(b, ph, pw, c)
            if pad_b > 0 or pad_r > 0:
                x = x[:, :h, :w].contiguous()
            x = x.view(b, length, c)
        x = res_x + x
        # Channels-last views: the (B, L, C) tokens already are an NHWC image, so the depthwise
        # conv runs without the two layout copies of a transpose/reshape round trip.
        x = x.view(b, h, w, c).permute(0, 3, 1, 2)
        x = self.local_conv(x)
        x = x.permute(0, 2, 3, 1).reshape(b, length, c)
        return x + self.mlp(x)


class BasicLayer(_Stage):
    """A TinyViT stage: `TinyViTBlock`s, then an optional PatchMerging."""

    def __init__(
        self,
        dim: int,
        input_resolution: tuple[int, int],
        depth: int,
        num_heads: int,
        window_size: int,
        out_dim: int | None,
        downsample: bool,
        mlp_ratio: float = 4.0,
        local_conv_size: int = 3,
    ) -> None:
        blocks = (
            TinyViTBlock(dim, input_resolution, num_heads, window_size, mlp_ratio, local_conv_size)
            for _ in range(depth)
        )
        super().__init__(dim, input_resolution, blocks, out_dim, downsample)


class TinyViT(nn.Module):
    """TinyViT backbone with SAM's neck: (B, 3, 1024, 1024) -> (B, 256, 64, 64).

    Arguments:
      img_size: padded input side (1024).
      embed_dims / depths / num_heads / window_sizes: per-stage configuration
        (MobileSAM: [64, 128, 160, 320], [2, 2, 6, 2], [2, 4, 5, 10], [7, 7, 14, 7]).
      num_classes: width of the unused classification head kept for checkpoint compatibility.
    """

    def __init__(
        self,
        img_size: int = 1024,
        in_chans: int = 3,
        num_classes: int = 1000,
        embed_dims: tuple[int, ...] = (64, 128, 160, 320),
        depths: tuple[int, ...] = (2, 2, 6, 2),
        num_heads: tuple[int, ...] = (2, 4, 5, 10),
        window_sizes: tuple[int, ...] = (7, 7, 14, 7),
        mlp_ratio: float = 4.0,
        mbconv_expand_ratio: float = 4.0,
        local_conv_size: int = 3,
    ) -> None:
        super().__init__()
        self.img_size = img_size
        self.num_layers = len(depths)
        self.patch_embed = PatchEmbed(in_chans, embed_dims[0], img_size)
        res = self.patch_embed.patches_resolution
        self.layers = nn.ModuleList()
        for i in range(self.num_layers):
            # The last PatchMerging keeps the resolution (stride 1), so the last two stages
            # share it.
            div = 2 ** (i - 1 if i == self.num_layers - 1 else i)
            resolution = (res[0] // div, res[1] // div)
            out_dim = embed_dims[min(i + 1, len(embed_dims) - 1)]
            downsample = i < self.num_layers - 1
            layer: nn.Module
            if i == 0:
                layer = ConvLayer(
                    embed_dims[i], resolution, depths[i], out_dim, downsample, mbconv_expand_ratio
                )
            else:
                layer = BasicLayer(
                    embed_dims[i],
                    resolution,
                    depths[i],
                    num_heads[i],
                    window_sizes[i],
                    out_dim,
                    downsample,
                    mlp_ratio,
                    local_conv_size,
                )
            self.layers.append(layer)
        self.final_resolution = resolution
        self.norm_head = nn.LayerNorm(embed_dims[-1])
        self.head = nn.Linear(embed_dims[-1], num_classes) if num_classes > 0 else nn.Identity()
        self.neck = nn.Sequential(
            nn.Conv2d(embed_dims[-1], 256, kernel_size=1, bias=False),
            LayerNorm2d(256),
            nn.Conv2d(256, 256, kernel_size=3, padding=1, bias=False),
            LayerNorm2d(256),
        )

    def set_attention_biases(self, enabled: bool) -> None:
        """Switch the learned attention biases on (default) or off.

        The MobileSAM reference caches the biases when `.eval()` is called and its builder calls
        `.eval()` *before* loading the checkpoint, so unless the caller calls `.eval()` again, the
        reference runs with the initial (zero) biases and ignores the trained ones. The parity
        pack was produced that way; `set_attention_biases(False)` reproduces it. The default uses
        the checkpoint's biases, as the model was trained (and as MobileSAM's README flow runs).
        """
        for module in self.modules():
            if isinstance(module, Attention):
                module.use_attention_biases = enabled

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Convolutional stages in channels-last: oneDNN's fastest layout on CPU, and the layout
        # the transformer stages' tokens already have.
        x = self.patch_embed(x.contiguous(memory_format=torch.channels_last))
        for layer in self.layers:
            x = layer(x)
        b, _, c = x.shape
        h, w = self.final_resolution
        x = x.view(b, h, w, c).permute(0, 3, 1, 2)
        return self.neck(x).contiguous()
