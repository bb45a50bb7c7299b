"""ViT image encoder of SAM (ViT-B/L/H): windowed + global attention, decomposed relative
positions, a convolutional neck to 256 channels."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .common import LayerNorm2d, MLPBlock


class ImageEncoderViT(nn.Module):
    """Vision transformer backbone of SAM.

    Arguments:
      img_size: side of the square, padded input (1024).
      patch_size: patch side (16), giving a 64x64 token grid.
      embed_dim / depth / num_heads: transformer width, blocks, heads.
      global_attn_indexes: blocks that attend over the whole grid; the others use windows.
      window_size: side of the attention windows (14).
    Input (B, 3, 1024, 1024) normalised float; output (B, out_chans, 64, 64).
    """

    def __init__(
        self,
        img_size: int = 1024,
        patch_size: int = 16,
        in_chans: int = 3,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        out_chans: int = 256,
        qkv_bias: bool = True,
        use_abs_pos: bool = True,
        use_rel_pos: bool = True,
        window_size: int = 14,
        global_attn_indexes: tuple[int, ...] = (),
    ) -> None:
        super().__init__()
        self.img_size = img_size
        self.patch_embed = PatchEmbed(patch_size, in_chans, embed_dim)
        grid = img_size // patch_size
        self.pos_embed: nn.Parameter | None = None
        if use_abs_pos:
            self.pos_embed = nn.Parameter(torch.zeros(1, grid, grid, embed_dim))
        self.blocks = nn.ModuleList(
            Block(
                dim=embed_dim,
                num_heads=num_heads,
                mlp_ratio=mlp_ratio,
                qkv_bias=qkv_bias,
                use_rel_pos=use_rel_pos,
                window_size=0 if i in global_attn_indexes else window_size,
                input_size=(grid, grid),
            )
            for i in range(depth)
        )
        self.neck = nn.Sequential(
            nn.Conv2d(embed_dim, out_chans, kernel_size=1, bias=False),
            LayerNorm2d(out_chans),
            nn.Conv2d(out_chans, out_chans, kernel_size=3, padding=1, bias=False),
            LayerNorm2d(out_chans),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)
        if self.pos_embed is not None:
            x = x + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        return self.neck(x.permute(0, 3, 1, 2))


class Block(nn.Module):
    """Pre-norm transformer block; attention over windows (`window_size > 0`) or globally."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        use_rel_pos: bool = True,
        window_size: int = 0,
        input_size: tuple[int, int] = (64, 64),
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(
            dim,
            num_heads=num_heads,
            qkv_bias=qkv_bias,
            use_rel_pos=use_rel_pos,
            input_size=input_size if window_size == 0 else (window_size, window_size),
        )
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = MLPBlock(embedding_dim=dim, mlp_dim=int(dim * mlp_ratio), act=nn.GELU)
        self.window_size = window_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.norm1(x)
        x = (
            self.attn.forward_windowed(x, self.window_size)
            if self.window_size > 0
            else self.attn(x)
        )
        x = shortcut + x
        return x + self.mlp(self.norm2(x))


class Attention(nn.Module):
    """Multi-head attention over a (B, H, W, C) grid with decomposed relative positions.

    `use_sdpa=True` (default) runs `scaled_dot_product_attention` with the relative-position
    terms as an additive bias; `False` runs the explicit softmax(QK^T) the reference uses
    (kept for benchmarks and for checking the fast path).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int = 8,
        qkv_bias: bool = True,
        use_rel_pos: bool = True,
        input_size: tuple[int, int] = (64, 64),
    ) -> None:
        super().__init__()
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.scale = head_dim**-0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.use_rel_pos = use_rel_pos
        self.use_sdpa = True
        if use_rel_pos:
            self.rel_pos_h = nn.Parameter(torch.zeros(2 * input_size[0] - 1, head_dim))
            self.rel_pos_w = nn.Parameter(torch.zeros(2 * input_size[1] - 1, head_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Attention over one (B, H, W, C) grid (a whole image or a batch of windows)."""
        return self.proj(self._attend(self.qkv(x)))

    def forward_windowed(self, x: torch.Tensor, window_size: int) -> torch.Tensor:
        """Attention within non-overlapping windows of a (B, H, W, C) grid.

        Same result as the reference's pad -> partition -> attention -> unpartition -> crop,
        but the qkv and output projections skip the padding: a zero-padded token projects to
        the qkv bias, so the projected grid is padded with that bias instead, and the output
        projection runs after the crop.
        """
        b, h, w, _ = x.shape
        qkv = self.qkv(x)
        pad_h = (window_size - h % window_size) % window_size
        pad_w = (window_size - w % window_size) % window_size
        if pad_h > 0 or pad_w > 0:
            padded = qkv.new_empty((b, h + pad_h, w + pad_w, qkv.shape[-1]))
            padded[:] = self.qkv.bias if self.qkv.bias is not None else 0.0
            padded[:, :h, :w] = qkv
            qkv = padded
        windows, pad_hw = window_partition(qkv, window_size)
        out = window_unpartition(self._attend(windows), window_size, pad_hw, (h, w))
        return self.proj(out)

    def _attend(self, qkv: torch.Tensor) -> torch.Tensor:
        """(B, H, W, 3C) projected tokens -> (B, H, W, C) attention output, before `proj`."""
        b, h, w, _ = qkv.shape
        qkv = qkv.reshape(b, h * w, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        # q, k, v: (B, heads, H*W, head_dim)
        q, k, v = qkv.unbind(0)
        bias = None
        if self.use_rel_pos:
            bias = decomposed_rel_pos_bias(q, self.rel_pos_h, self.rel_pos_w, (h, w), (h, w))
        if self.use_sdpa:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=self.scale)
        else:
            attn = (q * self.scale) @ k.transpose(-2, -1)
            if bias is not None:
                attn = attn + bias
            out = attn.softmax(dim=-1) @ v
        return out.view(b, self.num_heads, h, w, -1).permute(0, 2, 3, 1, 4).reshape(b, h, w, -1)


def window_partition(x: torch.Tensor, window_size: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Split (B, H, W, C) into (B * nWindows, ws, ws, C), zero-padding bottom/right first.

    Shared with SAM 2's Hiera (`annotator.sam2.hiera`), whose reference splits the same way.

    Returns the windows and the padded (Hp, Wp).
    """
    b, h, w, c = x.shape
    pad_h = (window_size - h % window_size) % window_size
    pad_w = (window_size - w % window_size) % window_size
    if pad_h > 0 or pad_w > 0:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    hp, wp = h + pad_h, w + pad_w
    x = x.view(b, hp // window_size, window_size, wp // window_size, window_size, c)
    windows = x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window_size, window_size, c)
    return windows, (hp, wp)


def window_unpartition(
    windows: torch.Tensor, window_size: int, pad_hw: tuple[int, int], hw: tuple[int, int]
) -> torch.Tensor:
    """Inverse of `window_partition`: (B * nWindows, ws, ws, C) back to (B, H, W, C)."""
    hp, wp = pad_hw
    h, w = hw
    b = windows.shape[0] // (hp * wp // window_size // window_size)
    x = windows.reshape(b, hp // window_size, wp // window_size, window_size, window_size, -1)
    x = x.permute(0, 1, 3, 2, 4, 5).reshape(b, hp, wp, -1)
    if hp > h or wp > w:
        x = x[:, :h, :w, :].contiguous()
    return x


def get_rel_pos(q_size: int, k_size: int, rel_pos: torch.Tensor) -> torch.Tensor:
    """Relative-position embeddings for every (query, key) pair along one axis.

    Arguments:
      q_size, k_size: query and key lengths along the axis.
      rel_pos: (L, C) table; linearly resized when L != 2 * max(q_size, k_size) - 1.
    Returns:
      (q_size, k_size, C).
    """
    max_rel_dist = int(2 * max(q_size, k_size) - 1)
    if rel_pos.shape[0] != max_rel_dist:
        resized = F.interpolate(
            rel_pos.reshape(1, rel_pos.shape[0], -1).permute(0, 2, 1),
            size=max_rel_dist,
            mode="linear",
        )
        rel_pos_resized = resized.reshape(-1, max_rel_dist).permute(1, 0)
    else:
        rel_pos_resized = rel_pos
    q_coords = torch.arange(q_size, device=rel_pos.device)[:, None] * max(k_size / q_size, 1.0)
    k_coords = torch.arange(k_size, device=rel_pos.device)[None, :] * max(q_size / k_size, 1.0)
    relative_coords = (q_coords - k_coords) + (k_size - 1) * max(q_size / k_size, 1.0)
    return rel_pos_resized[relative_coords.long()]


def decomposed_rel_pos_bias(
    q: torch.Tensor,
    rel_pos_h: torch.Tensor,
    rel_pos_w: torch.Tensor,
    q_size: tuple[int, int],
    k_size: tuple[int, int],
) -> torch.Tensor:
    """Additive attention bias of MViTv2-style decomposed relative positions.

    Arguments:
      q: (B, heads, q_h * q_w, C) unscaled queries.
      rel_pos_h, rel_pos_w: relative-position tables of the height and width axes.
    Returns:
      (B, heads, q_h * q_w, k_h * k_w) bias, added to the scaled q.k logits.
    """
    q_h, q_w = q_size
    k_h, k_w = k_size
    rh = get_rel_pos(q_h, k_h, rel_pos_h).to(q.dtype)
    rw = get_rel_pos(q_w, k_w, rel_pos_w).to(q.dtype)
    b, n, _, dim = q.shape
    r_q = q.reshape(b, n, q_h, q_w, dim)
    rel_h = torch.einsum("bnhwc,hkc->bnhwk", r_q, rh)
    rel_w = torch.einsum("bnhwc,wkc->bnhwk", r_q, rw)
    # Write the broadcast sum into a contiguous buffer: left to itself the add inherits the
    # einsum outputs' strides and the final reshape then copies the whole (N x N) bias again,
    # 800 MB per global-attention block of ViT-B.
    if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export() or torch.compiler.is_compiling():
        # Exporters do not support `out=`, and under torch.compile the buffer's strides are not
        # kept (the view fails); the graph compiler plans its own buffers anyway.
        return (rel_h[..., :, None] + rel_w[..., None, :]).reshape(b, n, q_h * q_w, k_h * k_w)
    bias = torch.empty((b, n, q_h, q_w, k_h, k_w), dtype=q.dtype, device=q.device)
    torch.add(rel_h[..., :, None], rel_w[..., None, :], out=bias)
    return bias.view(b, n, q_h * q_w, k_h * k_w)


class PatchEmbed(nn.Module):
    """Non-overlapping patch projection; output is channels-last (B, H/16, W/16, C)."""

    def __init__(self, patch_size: int = 16, in_chans: int = 3, embed_dim: int = 768) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).permute(0, 2, 3, 1)
