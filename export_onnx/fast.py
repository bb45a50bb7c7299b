"""The browser fast path: SAM's prompt encoder + mask decoder split for per-prompt latency.

Two graphs replace Meta's one:

``prepare.onnx`` runs once per image (and again for a click that feeds a previous mask back):
    dequantizes the wire embedding, adds the dense prompt embedding (``no_mask_embed`` or the
    downscaled mask input), computes the dense positional encoding and every projection of the
    image tokens that the first two-way block applies before it ever sees a prompt: the keys and
    values of its token->image attention and the queries of its image->token attention.

``decode.onnx`` runs per prompt and returns the 4 low-res (256x256) mask logits and 4 IoU scores;
selecting (single vs multimask) and upsampling to the image is left to the caller, so the hover
graph never pays for a full-resolution resize.

Why it is faster (per prompt with T tokens = 5 output tokens + prompt points, typically T = 7):
a cross-attention between T tokens and the 4096 image tokens only needs rank-8T products with the
image tokens. Instead of projecting all 4096 image tokens (4096x256x128 multiply-adds per
projection), the token side is folded into the projection weights first:

* token->image: ``softmax(q_h (X + P) W_k,h^T / 4) X W_v,h^T`` = ``softmax((q_h W_k,h) (X + P)^T / 4)
  X`` then ``W_v,h``; the key bias adds a constant per query row, which softmax ignores, and the
  value bias passes through because attention rows sum to one.
* image->token: the output projection is folded into the per-head token values
  (``v_h W_o,h^T``, T x 256), so the 4096 x 128 x 256 out-projection becomes 4096 x 8T x 256.
* the final token->image attention is only needed for the 5 output tokens (the point tokens'
  outputs are never read).
* the transposed convolutions of the upscaler are stride-2 kernel-2, i.e. per-pixel matrix
  products; they run as MatMuls in a (4096, 4, 64) layout with LayerNorm2d over the last axis, and
  the hypernetwork product is applied before the single final pixel shuffle, so no 32-channel
  256x256 tensor is ever transposed.

Everything here is exact algebra on the same weights; the graphs agree with the PyTorch model to
float32 rounding (checked by `export_onnx.verify`).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

PREPARE_INPUTS = [
    "embedding_q",
    "embedding_scale",
    "embedding_offset",
    "mask_input",
    "has_mask_input",
]
PREPARE_OUTPUTS = ["image_tokens", "image_pe", "t2i_k", "t2i_v", "i2t_q"]
DECODE_INPUTS = [*PREPARE_OUTPUTS, "point_coords", "point_labels"]
DECODE_OUTPUTS = ["low_res_masks", "iou_predictions"]


def _layer_norm(x: torch.Tensor, norm: Any) -> torch.Tensor:
    """Apply an ``nn.LayerNorm`` (or LayerNorm2d in channels-last layout) over the last axis."""
    weight = norm.weight
    bias = norm.bias
    eps = float(norm.eps)
    # The normalised size comes from the weight so that it is a constant for the ONNX tracer.
    size = (int(weight.shape[0]),)
    return F.layer_norm(x, size, weight, bias, eps)


def _heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """(B, N, C) -> (B, heads, N, C / heads)."""
    b, n, c = x.shape
    return x.reshape(b, n, num_heads, c // num_heads).transpose(1, 2)


class _Folded:
    """Per-head weight views of one ``Attention`` module, shaped for folding."""

    def __init__(self, attn: Any) -> None:
        self.attn = attn
        self.h = int(attn.num_heads)
        internal = int(attn.internal_dim)
        self.d = internal // self.h
        self.scale = 1.0 / math.sqrt(self.d)

    def w(self, name: str) -> torch.Tensor:
        """Projection weight (internal, C) of q/k/v as (heads, d, C)."""
        weight: torch.Tensor = getattr(self.attn, name).weight
        return weight.reshape(self.h, self.d, weight.shape[-1])

    def b(self, name: str) -> torch.Tensor:
        """Projection bias (internal,) of q/k/v as (heads, 1, d)."""
        bias: torch.Tensor = getattr(self.attn, name).bias
        return bias.reshape(self.h, 1, self.d)

    def w_out(self) -> torch.Tensor:
        """Output projection (C, internal) as (heads, d, C): head h maps its d values to C."""
        weight: torch.Tensor = self.attn.out_proj.weight
        return weight.t().reshape(self.h, self.d, weight.shape[0])


def _block_diag(x: torch.Tensor) -> torch.Tensor:
    """(h, T, d) per-head rows -> (h*d, h*T) block-diagonal matrix with block h = x[h].T.

    A product ``(N, h*d) @ block_diag`` computes every head's (N, T) logits in one MatMul with
    no transpose of the N = 4096 image rows.
    """
    h, t, d = x.shape
    eye = torch.eye(h, dtype=x.dtype).reshape(h, 1, h, 1)
    return (x.transpose(1, 2).unsqueeze(2) * eye).reshape(h * d, h * t)


def _softmax_heads(logits: torch.Tensor, h: int) -> torch.Tensor:
    """Softmax of (N, h*T) logits within each head's T columns."""
    n = logits.shape[0]
    return torch.softmax(logits.reshape(n, h, -1), dim=-1).reshape(n, -1)


def _head_diagonal(x: torch.Tensor, h: int) -> torch.Tensor:
    """(h*T, h*d) products of every head's rows with every head's columns -> (T, h*d) keeping
    head h's columns for head h's rows (the concatenated per-head attention outputs)."""
    ht, hd = x.shape
    t, d = ht // h, hd // h
    eye = torch.eye(h, dtype=x.dtype).reshape(h, 1, h, 1)
    return (x.reshape(h, t, h, d) * eye).sum(0).reshape(t, h * d)


def token_to_image(
    attn: Any, q_tok: torch.Tensor, keys: torch.Tensor, keys_pe: torch.Tensor
) -> torch.Tensor:
    """``attn(q=q_tok, k=keys_pe, v=keys)`` with the image-side projections folded away.

    Arguments:
        q_tok: (T, C) token queries (with their PE already added).
        keys: (4096, C) image tokens; ``keys_pe`` the same plus the dense PE.
    Returns:
        (T, C), equal to the module's output.
    """
    f = _Folded(attn)
    q = _heads(attn.q_proj(q_tok)[None], f.h)[0]  # (h, T, d)
    m = torch.matmul(q, f.w("k_proj")) * f.scale  # (h, T, C)
    h, t, c = m.shape
    # (4096, hT) logits, transposed while small so that softmax runs over the last axis and the
    # weights multiply the image tokens without transposing any (4096, C) tensor.
    logits = torch.matmul(keys_pe, m.reshape(h * t, c).t()).t()  # (hT, 4096)
    a = torch.softmax(logits, dim=-1)
    ax = torch.matmul(a, keys).reshape(h, t, c)  # (h, T, C)
    v = torch.matmul(ax, f.w("v_proj").transpose(1, 2)) + f.b("v_proj")  # (h, T, d)
    out = v.permute(1, 0, 2).reshape(t, h * f.d)
    return attn.out_proj(out)


def token_to_image_prepared(
    attn: Any, q_tok: torch.Tensor, k_img: torch.Tensor, v_img: torch.Tensor
) -> torch.Tensor:
    """``attn(q=q_tok, k=..., v=...)`` given the projected image keys and values (4096, h*d)."""
    f = _Folded(attn)
    q = _heads(attn.q_proj(q_tok)[None], f.h)[0] * f.scale  # (h, T, d)
    a = torch.softmax(torch.matmul(k_img, _block_diag(q)).t(), dim=-1)  # (hT, 4096)
    out = _head_diagonal(torch.matmul(a, v_img), f.h)  # (T, h*d)
    return attn.out_proj(out)


def image_to_token(
    attn: Any,
    q_img: torch.Tensor | None,
    keys_pe: torch.Tensor | None,
    k_tok: torch.Tensor,
    v_tok: torch.Tensor,
) -> torch.Tensor:
    """``attn(q=keys_pe, k=k_tok, v=v_tok)`` with the image-side projections folded away.

    Arguments:
        q_img: (4096, internal) precomputed ``q_proj(keys_pe)``, or None to fold it from
            ``keys_pe`` (4096, C).
        k_tok: (T, C) token keys (with PE); ``v_tok`` (T, C) token values.
    Returns:
        (4096, C), equal to the module's output.
    """
    f = _Folded(attn)
    k = _heads(attn.k_proj(k_tok)[None], f.h)[0] * f.scale  # (h, T, d)
    v = _heads(attn.v_proj(v_tok)[None], f.h)[0]  # (h, T, d)
    h, t, _ = k.shape
    if q_img is not None:
        logits = torch.matmul(q_img, _block_diag(k))  # (4096, hT)
    else:
        assert keys_pe is not None
        wq = f.w("q_proj")  # (h, d, C)
        n = torch.matmul(k, wq).reshape(h * t, -1)  # (hT, C)
        c = torch.matmul(k, f.b("q_proj").transpose(1, 2)).reshape(1, h * t)  # query bias term
        logits = torch.matmul(keys_pe, n.t()) + c  # (4096, hT)
    a = _softmax_heads(logits, h)
    # Out-projection folded into the values; its bias too: each head's weights sum to one, so
    # adding bias / h to every head's values adds the bias once.
    v_out = torch.matmul(v, f.w_out()) + attn.out_proj.bias / h  # (h, T, C)
    return torch.matmul(a, v_out.reshape(h * t, -1))


def embed_points(prompt_encoder: Any, coords: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(1, N, 256) sparse embedding of points already padded by the caller (labels -1..3), as
    Meta's ``SamOnnxModel._embed_points``; SAM 2's graphs (`export_onnx.sam2_graphs`) use it too."""
    pe = prompt_encoder
    side = float(pe.input_image_size[0])
    emb = pe.pe_layer._pe_encoding((coords + 0.5) / side)  # pixel centres, normalised to [0, 1]
    lab = labels.unsqueeze(-1)
    emb = emb * (lab != -1).to(emb.dtype)
    emb = emb + pe.not_a_point_embed.weight * (lab == -1).to(emb.dtype)
    for i, point_embed in enumerate(pe.point_embeddings):
        emb = emb + point_embed.weight * (lab == i).to(emb.dtype)
    return emb


def dense_embedding(
    prompt_encoder: Any, mask_input: torch.Tensor, has_mask_input: torch.Tensor
) -> torch.Tensor:
    """(1, 256, 64, 64): the downscaled mask input, or ``no_mask_embed`` everywhere."""
    mask_dense = prompt_encoder.mask_downscaling(mask_input)
    no_mask = prompt_encoder.no_mask_embed.weight.reshape(1, -1, 1, 1)
    return has_mask_input * mask_dense + (1 - has_mask_input) * no_mask


def prepare_image_tokens(
    prompt_encoder: Any, block: Any, embedding: torch.Tensor, dense: torch.Tensor
) -> tuple[torch.Tensor, ...]:
    """The prompt-independent tensors of `PREPARE_OUTPUTS` from a (1, 256, 64, 64) image
    embedding, its dense prompt embedding and the first two-way block."""
    c = embedding.shape[1]
    tokens = (embedding + dense).reshape(c, -1).t()
    dense_pe = prompt_encoder.get_dense_pe().reshape(c, -1).t()
    tokens_pe = tokens + dense_pe
    t2i_k = block.cross_attn_token_to_image.k_proj(tokens_pe)
    t2i_v = block.cross_attn_token_to_image.v_proj(tokens)
    i2t_q = block.cross_attn_image_to_token.q_proj(tokens_pe)
    return tokens, dense_pe, t2i_k, t2i_v, i2t_q


def decode_tokens(
    decoder: Any,
    out_tokens: torch.Tensor,
    sparse: torch.Tensor,
    rows: slice,
    prepared: tuple[torch.Tensor, ...],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The decoder's two-way transformer on prepared image tensors, with every projection of
    the image tokens folded (see the module docstring).

    Arguments:
        out_tokens: (K, C) the decoder's output tokens; sparse: (N, C) prompt embedding.
        rows: the rows of the IoU token and the mask tokens, the only ones read after the final
            attention.
        prepared: `PREPARE_OUTPUTS`' first five tensors.
    Returns:
        the IoU head's output (1, M), the hypernetwork outputs (M, C/8) of the M mask tokens and
        the image tokens (4096, C) after the transformer.
    """
    image_tokens, image_pe, t2i_k, t2i_v, i2t_q = prepared
    tr = decoder.transformer
    query_pe = torch.cat([out_tokens, sparse], dim=0)  # (T, C)
    queries = query_pe
    keys = image_tokens  # (4096, C)
    for i, blk in enumerate(tr.layers):
        first = i == 0
        # Self-attention over the few tokens: cheap, kept as the module computes it.
        if blk.skip_first_layer_pe:
            queries = blk.self_attn(q=queries[None], k=queries[None], v=queries[None])[0]
        else:
            q = (queries + query_pe)[None]
            queries = queries + blk.self_attn(q=q, k=q, v=queries[None])[0]
        queries = blk.norm1(queries)
        q = queries + query_pe
        if first:
            # Keys and values of the image tokens were projected once per image.
            attn_out = token_to_image_prepared(blk.cross_attn_token_to_image, q, t2i_k, t2i_v)
            keys_pe = None
        else:
            keys_pe = keys + image_pe
            attn_out = token_to_image(blk.cross_attn_token_to_image, q, keys, keys_pe)
        queries = blk.norm2(queries + attn_out)
        queries = blk.norm3(queries + blk.mlp(queries))
        q = queries + query_pe
        keys = keys + image_to_token(
            blk.cross_attn_image_to_token, i2t_q if first else None, keys_pe, q, queries
        )
        keys = blk.norm4(keys)
    q = (queries + query_pe)[rows]
    attn_out = token_to_image(tr.final_attn_token_to_image, q, keys, keys + image_pe)
    hs = tr.norm_final_attn(queries[rows] + attn_out)
    iou_pred = decoder.iou_prediction_head(hs[0:1])
    hyper = torch.stack(
        [mlp(hs[1 + i]) for i, mlp in enumerate(decoder.output_hypernetworks_mlps)], dim=0
    )  # (M, 32)
    return iou_pred, hyper, keys


def upscale_masks(
    output_upscaling: Any,
    keys: torch.Tensor,
    hyper: torch.Tensor,
    skip_s1: torch.Tensor | None = None,
    skip_s0: torch.Tensor | None = None,
) -> torch.Tensor:
    """``hyper @ output_upscaling(keys)`` as (1, K, 256, 256), with convs as MatMuls.

    Arguments:
        keys: (4096, C) image tokens after the transformer, row-major 64x64.
        hyper: (K, 32) hypernetwork outputs of the K mask tokens.
        skip_s1 / skip_s0: SAM 2's high-res features, added after each transposed convolution
            (in `export_onnx.sam2_graphs.skip_layouts`' layout); None for SAM 1.
    """
    ct1, ln, act1, ct2, act2 = output_upscaling
    c1 = ct1.weight.shape[1]  # ConvTranspose2d weight: (in, out, 2, 2)
    c2 = ct2.weight.shape[1]
    # (in, out, a, b) -> (in, a, b, out): output channel last, sub-pixel (a, b) before it.
    # Bias added in the 2-D product, so that onnxruntime fuses MatMul + Add into one Gemm.
    w1 = ct1.weight.permute(0, 2, 3, 1).reshape(ct1.weight.shape[0], 4 * c1)
    y = torch.matmul(keys, w1) + ct1.bias.repeat(4)  # (4096, 4[a b] * 64)
    if skip_s1 is not None:
        y = y + skip_s1
    y = act1(_layer_norm(y.reshape(-1, c1), ln))  # (4096 * 4, 64)
    w2 = ct2.weight.permute(0, 2, 3, 1).reshape(c1, 4 * c2)
    z = torch.matmul(y, w2) + ct2.bias.repeat(4)  # (4096 * 4, 4[a' b'] * 32)
    if skip_s0 is not None:
        z = z + skip_s0
    z = act2(z).reshape(-1, 4, 4, c2)
    m = torch.matmul(z, hyper.t())  # (4096, 4, 4, K)
    k = hyper.shape[0]
    # pixel (4i + 2a + a', 4j + 2b + b') of the 256x256 mask.
    m = m.reshape(64, 64, 2, 2, 2, 2, k).permute(6, 0, 2, 4, 1, 3, 5)
    return m.reshape(1, k, 256, 256)


class PrepareGraph(nn.Module):
    """Per-image graph: wire embedding (+ optional mask input) -> everything prompt-independent.

    Inputs (names as in `PREPARE_INPUTS`): ``embedding_q`` (1, 256, 64, 64) uint8,
    ``embedding_scale`` and ``embedding_offset`` (256,) float32 (see `export_onnx.wire`),
    ``mask_input`` (1, 1, 256, 256) float32 low-res logits of a previous mask, ``has_mask_input``
    (1,) float32 0 or 1.
    Outputs (`PREPARE_OUTPUTS`), 2-D with tokens in row-major 64x64 order: ``image_tokens``
    (4096, 256) image embedding + dense prompt embedding, ``image_pe`` (4096, 256) dense
    positional encoding, ``t2i_k``/``t2i_v`` (4096, 128) first block's token->image keys and
    values, ``i2t_q`` (4096, 128) first block's image->token queries (heads concatenated).
    """

    def __init__(self, sam: Any) -> None:
        super().__init__()
        self.prompt_encoder: Any = sam.prompt_encoder
        self.block: Any = sam.mask_decoder.transformer.layers[0]

    def forward(
        self,
        embedding_q: torch.Tensor,
        embedding_scale: torch.Tensor,
        embedding_offset: torch.Tensor,
        mask_input: torch.Tensor,
        has_mask_input: torch.Tensor,
    ) -> tuple[torch.Tensor, ...]:
        emb = embedding_q.to(torch.float32) * embedding_scale.reshape(1, -1, 1, 1)
        emb = emb + embedding_offset.reshape(1, -1, 1, 1)
        dense = dense_embedding(self.prompt_encoder, mask_input, has_mask_input)
        return prepare_image_tokens(self.prompt_encoder, self.block, emb, dense)


class DecodeGraph(nn.Module):
    """Per-prompt graph: prepared image tensors + prompt points -> 4 low-res masks and scores.

    Inputs (`DECODE_INPUTS`): the outputs of `PrepareGraph`, then ``point_coords`` (1, N, 2)
    float32 (x, y) in the 1024-resized frame and ``point_labels`` (1, N) float32 (1 fg, 0 bg,
    2/3 box corners, -1 padding point), exactly as Meta's ONNX decoder takes them.
    Outputs: ``low_res_masks`` (1, 4, 256, 256) float32 logits of all mask tokens (index 0 is the
    single-mask output, 1..3 the multimask outputs) and ``iou_predictions`` (1, 4) float32.
    """

    def __init__(self, sam: Any) -> None:
        super().__init__()
        self.prompt_encoder: Any = sam.prompt_encoder
        self.decoder: Any = sam.mask_decoder

    def embed_points(self, coords: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Sparse prompt embedding (1, N, 256), as Meta's ``SamOnnxModel._embed_points``."""
        return embed_points(self.prompt_encoder, coords, labels)

    def forward(
        self,
        image_tokens: torch.Tensor,
        image_pe: torch.Tensor,
        t2i_k: torch.Tensor,
        t2i_v: torch.Tensor,
        i2t_q: torch.Tensor,
        point_coords: torch.Tensor,
        point_labels: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        dec = self.decoder
        sparse = self.embed_points(point_coords, point_labels)[0]
        out_tokens = torch.cat([dec.iou_token.weight, dec.mask_tokens.weight], dim=0)
        iou_pred, hyper, keys = decode_tokens(
            dec,
            out_tokens,
            sparse,
            slice(0, 1 + int(dec.num_mask_tokens)),
            (image_tokens, image_pe, t2i_k, t2i_v, i2t_q),
        )
        return upscale_masks(dec.output_upscaling, keys, hyper), iou_pred
