"""SAM 2.1's prompt encoder + mask decoder as ONNX-exportable modules (image mode).

Three graphs, mirroring SAM 1's export (`export_onnx.fast`):

``decoder.onnx`` (`Sam2DecoderGraph`): the single graph with the inputs SAM 2 ONNX users expect
    (``image_embed, high_res_feats_0, high_res_feats_1, point_coords, point_labels, mask_input,
    has_mask_input, orig_im_size``) and ``masks`` (full size), ``iou_predictions``,
    ``low_res_masks`` (clamped to +-32) out.
``prepare.onnx`` (`Sam2PrepareGraph`): per image (and per mask input): every prompt-independent
    tensor, including both high-res maps rearranged into the layout of the upscaler's MatMuls.
``decode.onnx`` (`Sam2DecodeGraph`): per prompt: low-res logits and IoU scores.

Every graph returns **4 candidates**: index 0 is SAM 2's single-mask answer with the dynamic
fallback already applied (token 0 when its stability ``#(>0.05)/#(>-0.05) >= 0.98``, else the
multimask token with the best IoU score, its logits and its score), indices 1..3 the multimask
tokens. ``multimask_output=True`` reads 1..3, ``False`` reads 0; one run serves both, so the
page can show the three candidates and still know the reference's single choice.

Prompts, as the caller must build them (SAM 2's predictor, not SAM 1's):
``point_coords`` (1, N, 2) XY in the 1024x1024 input frame, scaled **per axis**
(``x / w * 1024, y / h * 1024``: the resize is an anisotropic square stretch);
``point_labels`` (1, N): box corners first (2 = top-left, 3 = bottom-right), then clicks
(1/0), then the padding point (0, 0) with label -1, **always**, even with a box.
Masks go from 256x256 straight to (h, w) (bilinear, align_corners=False); only the returned
low-res copy is clamped, after upsampling.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .fast import (
    decode_tokens,
    dense_embedding,
    embed_points,
    prepare_image_tokens,
    upscale_masks,
)

LOW_RES_CLAMP = 32.0
FEATURE_INPUTS = ["image_embed", "high_res_feats_0", "high_res_feats_1"]
DECODER_INPUTS = [
    *FEATURE_INPUTS,
    "point_coords",
    "point_labels",
    "mask_input",
    "has_mask_input",
    "orig_im_size",
]
DECODER_OUTPUTS = ["masks", "iou_predictions", "low_res_masks"]
PREPARE_INPUTS = [*FEATURE_INPUTS, "mask_input", "has_mask_input"]
PREPARE_OUTPUTS = ["image_tokens", "image_pe", "t2i_k", "t2i_v", "i2t_q", "skip_s1", "skip_s0"]
DECODE_INPUTS = [*PREPARE_OUTPUTS, "point_coords", "point_labels"]
DECODE_OUTPUTS = ["low_res_masks", "iou_predictions"]


def with_single_choice(
    decoder: Any, masks: torch.Tensor, iou: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace candidate 0 by SAM 2's dynamic single-mask choice (see the module docstring).

    Arguments:
        masks: (1, 4, 256, 256) unclamped logits of every mask token; iou: (1, 4).
    """
    flat = masks[:, 0].reshape(masks.shape[0], -1)
    delta = float(decoder.dynamic_multimask_stability_delta)
    # Counts up to 65536 are exact in float32, and the reference divides float counts too.
    area_i = (flat > delta).to(torch.float32).sum(-1)
    area_u = (flat > -delta).to(torch.float32).sum(-1)
    stability = torch.where(area_u > 0, area_i / area_u, torch.ones_like(area_u))
    stable = (stability >= float(decoder.dynamic_multimask_stability_thresh)).unsqueeze(-1)
    best = torch.argmax(iou[:, 1:], dim=-1, keepdim=True) + 1  # (1, 1), first max as torch
    side = masks.shape[-1]
    best_logits = torch.gather(masks, 1, best[..., None, None].expand(-1, -1, side, side))
    best_iou = torch.gather(iou, 1, best)
    single = torch.where(stable[..., None, None], masks[:, 0:1], best_logits)
    single_iou = torch.where(stable, iou[:, 0:1], best_iou)
    return torch.cat([single, masks[:, 1:]], dim=1), torch.cat([single_iou, iou[:, 1:]], dim=1)


class Sam2DecoderGraph(nn.Module):
    """``decoder.onnx``: the reference-compatible single graph, run on the model's own modules."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.prompt_encoder: Any = model.sam_prompt_encoder
        self.decoder: Any = model.sam_mask_decoder

    def forward(
        self,
        image_embed: torch.Tensor,
        high_res_feats_0: torch.Tensor,
        high_res_feats_1: torch.Tensor,
        point_coords: torch.Tensor,
        point_labels: torch.Tensor,
        mask_input: torch.Tensor,
        has_mask_input: torch.Tensor,
        orig_im_size: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pe = self.prompt_encoder
        sparse = embed_points(pe, point_coords, point_labels)
        dense = dense_embedding(pe, mask_input, has_mask_input)
        low_res, iou, _ = self.decoder.predict_masks(
            image_embed, pe.get_dense_pe(), sparse, dense, [high_res_feats_0, high_res_feats_1]
        )
        low_res, iou = with_single_choice(self.decoder, low_res, iou)
        size = orig_im_size.to(torch.int64)
        # Tensor sizes keep the output size dynamic in the traced graph (any image size).
        dynamic_size: Any = (size[0], size[1])
        masks = F.interpolate(low_res, size=dynamic_size, mode="bilinear", align_corners=False)
        return masks, iou, torch.clamp(low_res, -LOW_RES_CLAMP, LOW_RES_CLAMP)


def skip_layouts(hr0: torch.Tensor, hr1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The high-res maps in the row layout of `export_onnx.fast.upscale_masks`' products.

    ``skip_s1`` (4096, 4 * 64): row = token (i, j) of the 64x64 grid, columns (a, b, channel)
    for pixel (2i + a, 2j + b) of the 128x128 map. ``skip_s0`` (16384, 4 * 32): row = (i, j,
    a, b), columns (a', b', channel) for pixel (4i + 2a + a', 4j + 2b + b') of 256x256.
    """
    c1, c0 = hr1.shape[1], hr0.shape[1]
    s1 = hr1[0].reshape(c1, 64, 2, 64, 2).permute(1, 3, 2, 4, 0).reshape(4096, 4 * c1)
    s0 = hr0[0].reshape(c0, 64, 2, 2, 64, 2, 2).permute(1, 4, 2, 5, 3, 6, 0)
    return s1, s0.reshape(4 * 4096, 4 * c0)


class Sam2PrepareGraph(nn.Module):
    """``prepare.onnx``: features (+ mask input) -> every prompt-independent tensor.

    Outputs (`PREPARE_OUTPUTS`): as SAM 1's `export_onnx.fast.PrepareGraph` (image tokens with
    the dense prompt added, dense PE, first block's projections), plus `skip_layouts`.
    """

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.prompt_encoder: Any = model.sam_prompt_encoder
        self.block: Any = model.sam_mask_decoder.transformer.layers[0]

    def forward(
        self,
        image_embed: torch.Tensor,
        high_res_feats_0: torch.Tensor,
        high_res_feats_1: torch.Tensor,
        mask_input: torch.Tensor,
        has_mask_input: torch.Tensor,
    ) -> tuple[torch.Tensor, ...]:
        dense = dense_embedding(self.prompt_encoder, mask_input, has_mask_input)
        prepared = prepare_image_tokens(self.prompt_encoder, self.block, image_embed, dense)
        return (*prepared, *skip_layouts(high_res_feats_0, high_res_feats_1))


class Sam2DecodeGraph(nn.Module):
    """``decode.onnx``: prepared tensors + prompt -> (1, 4, 256, 256) unclamped low-res logits
    and (1, 4) sigmoid IoU scores (candidate 0 = dynamic single choice, see the docstring)."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.prompt_encoder: Any = model.sam_prompt_encoder
        self.decoder: Any = model.sam_mask_decoder

    def forward(
        self,
        image_tokens: torch.Tensor,
        image_pe: torch.Tensor,
        t2i_k: torch.Tensor,
        t2i_v: torch.Tensor,
        i2t_q: torch.Tensor,
        skip_s1: torch.Tensor,
        skip_s0: torch.Tensor,
        point_coords: torch.Tensor,
        point_labels: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        dec = self.decoder
        sparse = embed_points(self.prompt_encoder, point_coords, point_labels)[0]
        out_tokens = torch.cat(
            [dec.obj_score_token.weight, dec.iou_token.weight, dec.mask_tokens.weight], dim=0
        )
        iou, hyper, keys = decode_tokens(
            dec,
            out_tokens,
            sparse,
            # Rows 1..5 (IoU token, mask tokens): row 0 is the object-score token, whose output
            # image mode ignores.
            slice(1, 2 + int(dec.num_mask_tokens)),
            (image_tokens, image_pe, t2i_k, t2i_v, i2t_q),
        )
        # SAM 2 adds its high-res features inside the upscaler (SAM 1 has none).
        low_res = upscale_masks(dec.output_upscaling, keys, hyper, skip_s1, skip_s0)
        return with_single_choice(dec, low_res, iou)
