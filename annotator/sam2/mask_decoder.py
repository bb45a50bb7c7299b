"""SAM 2 mask decoder: SAM 1's two-way transformer plus high-res skips, an object-score token,
sigmoid IoU scores and the dynamic single-mask fallback."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from annotator.sam.mask_decoder import (
    MLP,
    build_hypernetwork_mlps,
    build_output_upscaling,
    masks_from_tokens,
)
from annotator.sam.transformer import Attention, TwoWayAttentionBlock
from annotator.sam.transformer import TwoWayTransformer as Sam1TwoWayTransformer


class SdpaAttention(Attention):
    """SAM 1's decoder attention computed with `F.scaled_dot_product_attention`, as SAM 2's is.

    Same parameters and the same maths as the written-out softmax(q k^T / sqrt(d)) v, but SDPA
    rounds differently (up to 6e-5 on the low-res logits); with it the decoder's fp32 outputs
    on the parity pack are identical to Meta's, not merely within tolerance.
    """

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        q = self._separate_heads(self.q_proj(q))
        k = self._separate_heads(self.k_proj(k))
        v = self._separate_heads(self.v_proj(v))
        out = F.scaled_dot_product_attention(q, k, v)
        return self.out_proj(self._recombine_heads(out))


class TwoWayTransformer(Sam1TwoWayTransformer):
    """SAM 1's two-way transformer with SAM 2's parameter names and attention kernel.

    The computation is SAM 1's; two modules are swapped after construction:
      - the token MLP: SAM 2 builds it as `MLP(..., num_layers=2)` (`mlp.layers.0/1`) where
        SAM 1 has `mlp.lin1/lin2`; both are Linear -> ReLU -> Linear;
      - each attention, for `SdpaAttention` with the same projections.
    """

    def __init__(self, depth: int, embedding_dim: int, num_heads: int, mlp_dim: int) -> None:
        super().__init__(depth, embedding_dim, num_heads, mlp_dim)
        for layer in self.layers:
            assert isinstance(layer, TwoWayAttentionBlock)
            layer.mlp = MLP(embedding_dim, mlp_dim, embedding_dim, num_layers=2)  # type: ignore[assignment]
            layer.self_attn = SdpaAttention(embedding_dim, num_heads)
            layer.cross_attn_token_to_image = SdpaAttention(embedding_dim, num_heads, 2)
            layer.cross_attn_image_to_token = SdpaAttention(embedding_dim, num_heads, 2)
        self.final_attn_token_to_image = SdpaAttention(embedding_dim, num_heads, 2)


class MaskDecoder(nn.Module):
    """Predicts masks, IoU scores and an object score from image and prompt embeddings.

    Arguments:
      transformer_dim: channel width (256).
      transformer: the `TwoWayTransformer`.
      num_multimask_outputs: ambiguity-aware masks (3); token 0 is the single-mask output.
      iou_head_depth / iou_head_hidden_dim: the IoU MLP (3 layers, 256 wide), sigmoid output.
      dynamic_multimask_stability_delta / _thresh: the single-mask fallback (0.05, 0.98), which
        `build_sam2(apply_postprocessing=True)` turns on for every official model.
    """

    def __init__(
        self,
        *,
        transformer_dim: int,
        transformer: nn.Module,
        num_multimask_outputs: int = 3,
        iou_head_depth: int = 3,
        iou_head_hidden_dim: int = 256,
        dynamic_multimask_stability_delta: float = 0.05,
        dynamic_multimask_stability_thresh: float = 0.98,
    ) -> None:
        super().__init__()
        self.transformer_dim = transformer_dim
        self.transformer = transformer
        self.num_multimask_outputs = num_multimask_outputs
        self.iou_token = nn.Embedding(1, transformer_dim)
        self.num_mask_tokens = num_multimask_outputs + 1
        self.mask_tokens = nn.Embedding(self.num_mask_tokens, transformer_dim)
        # Takes part in attention (so it changes every other output) even though image mode
        # ignores the object score it predicts.
        self.obj_score_token = nn.Embedding(1, transformer_dim)
        self.output_upscaling = build_output_upscaling(transformer_dim, nn.GELU)
        # Applied once per image in `SAM2Image.forward_image`, not per prompt.
        self.conv_s0 = nn.Conv2d(transformer_dim, transformer_dim // 8, kernel_size=1)
        self.conv_s1 = nn.Conv2d(transformer_dim, transformer_dim // 4, kernel_size=1)
        self.output_hypernetworks_mlps = build_hypernetwork_mlps(
            transformer_dim, self.num_mask_tokens
        )
        self.iou_prediction_head = MLP(
            transformer_dim,
            iou_head_hidden_dim,
            self.num_mask_tokens,
            iou_head_depth,
            sigmoid_output=True,
        )
        self.pred_obj_score_head = MLP(transformer_dim, transformer_dim, 1, 3)
        self.dynamic_multimask_stability_delta = dynamic_multimask_stability_delta
        self.dynamic_multimask_stability_thresh = dynamic_multimask_stability_thresh

    def forward(
        self,
        image_embeddings: torch.Tensor,
        image_pe: torch.Tensor,
        sparse_prompt_embeddings: torch.Tensor,
        dense_prompt_embeddings: torch.Tensor,
        multimask_output: bool,
        high_res_features: list[torch.Tensor],
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Decode masks for B prompt sets on one image.

        Arguments:
          image_embeddings: (1 or B, 256, 64, 64) `image_embed` (with `no_mem_embed`).
          image_pe: (1, 256, 64, 64) dense positional encoding.
          sparse_prompt_embeddings: (B, N, 256) point tokens.
          dense_prompt_embeddings: (B, 256, 64, 64) mask-prompt embeddings.
          multimask_output: return tokens 1-3; otherwise the dynamic single-mask choice.
          high_res_features: [(1, 32, 256, 256), (1, 64, 128, 128)], already through
            conv_s0 / conv_s1; they broadcast over B.
        Returns:
          (B, 3 or 1, 256, 256) float32 low-res logits, (B, 3 or 1) sigmoid IoU scores and
          (B, 1) object-score logits.
        """
        masks, iou_pred, object_score_logits = self.predict_masks(
            image_embeddings,
            image_pe,
            sparse_prompt_embeddings,
            dense_prompt_embeddings,
            high_res_features,
        )
        if multimask_output:
            return masks[:, 1:], iou_pred[:, 1:], object_score_logits
        masks, iou_pred = self.dynamic_single_mask(masks, iou_pred)
        return masks, iou_pred, object_score_logits

    def predict_masks(
        self,
        image_embeddings: torch.Tensor,
        image_pe: torch.Tensor,
        sparse_prompt_embeddings: torch.Tensor,
        dense_prompt_embeddings: torch.Tensor,
        high_res_features: list[torch.Tensor],
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """All four masks (B, 4, 256, 256), their IoU (B, 4) and the object score (B, 1)."""
        output_tokens = torch.cat(
            [self.obj_score_token.weight, self.iou_token.weight, self.mask_tokens.weight], dim=0
        )
        output_tokens = output_tokens.unsqueeze(0).expand(sparse_prompt_embeddings.size(0), -1, -1)
        tokens = torch.cat((output_tokens, sparse_prompt_embeddings), dim=1)

        src = image_embeddings
        if src.shape[0] != tokens.shape[0]:
            src = torch.repeat_interleave(src, tokens.shape[0], dim=0)
        src = src + dense_prompt_embeddings
        pos_src = torch.repeat_interleave(image_pe, tokens.shape[0], dim=0)
        b, c, h, w = src.shape

        hs, src = self.transformer(src, pos_src, tokens)
        # Token order: [obj_score, iou, mask 0..3, prompts...].
        iou_token_out = hs[:, 1, :]
        mask_tokens_out = hs[:, 2 : 2 + self.num_mask_tokens, :]

        src = src.transpose(1, 2).reshape(b, c, h, w)
        dc1, ln1, act1, dc2, act2 = self.output_upscaling
        feat_s0, feat_s1 = high_res_features
        upscaled = act1(ln1(dc1(src) + feat_s1))
        upscaled = act2(dc2(upscaled) + feat_s0)
        masks = masks_from_tokens(self.output_hypernetworks_mlps, mask_tokens_out, upscaled)
        iou_pred = self.iou_prediction_head(iou_token_out)
        object_score_logits = self.pred_obj_score_head(hs[:, 0, :])
        return masks, iou_pred, object_score_logits

    def stability_scores(self, mask_logits: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) logits to (B, C) `#(> delta) / #(> -delta)` (1 where nothing is above)."""
        flat = mask_logits.flatten(-2)
        delta = self.dynamic_multimask_stability_delta
        area_i = torch.sum(flat > delta, dim=-1).float()
        area_u = torch.sum(flat > -delta, dim=-1).float()
        return torch.where(area_u > 0, area_i / area_u, 1.0)

    def dynamic_single_mask(
        self, all_mask_logits: torch.Tensor, all_iou_scores: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Token 0 where it is stable, else the multimask token with the best IoU score.

        SAM 2 trained its single-mask token for tracking; on a single click it is often
        unstable, and the best multimask output is the better single answer.

        Arguments:
          all_mask_logits: (B, 4, 256, 256) logits of every token.
          all_iou_scores: (B, 4) their IoU scores.
        Returns:
          (B, 1, 256, 256) chosen logits and (B, 1) their IoU scores.
        """
        multimask_logits = all_mask_logits[:, 1:]
        multimask_iou = all_iou_scores[:, 1:]
        best = torch.argmax(multimask_iou, dim=-1)
        batch = torch.arange(multimask_iou.size(0), device=all_iou_scores.device)
        best_logits = multimask_logits[batch, best].unsqueeze(1)
        best_iou = multimask_iou[batch, best].unsqueeze(1)

        single_logits = all_mask_logits[:, 0:1]
        single_iou = all_iou_scores[:, 0:1]
        is_stable = self.stability_scores(single_logits) >= self.dynamic_multimask_stability_thresh
        logits = torch.where(is_stable[..., None, None], single_logits, best_logits)
        iou = torch.where(is_stable, single_iou, best_iou)
        return logits, iou
