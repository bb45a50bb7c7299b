"""Mask decoder: a two-way transformer over prompt tokens and the image embedding."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .common import LayerNorm2d


class MLP(nn.Module):
    """Plain MLP with ReLU between layers (`layers.0 .. layers.{n-1}`)."""

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int,
        output_dim: int,
        num_layers: int,
        sigmoid_output: bool = False,
    ) -> None:
        super().__init__()
        self.num_layers = num_layers
        hidden = [hidden_dim] * (num_layers - 1)
        self.layers = nn.ModuleList(
            nn.Linear(n, k)
            for n, k in zip([input_dim, *hidden], [*hidden, output_dim], strict=True)
        )
        self.sigmoid_output = sigmoid_output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = F.relu(layer(x)) if i < self.num_layers - 1 else layer(x)
        if self.sigmoid_output:
            x = torch.sigmoid(x)
        return x


def build_output_upscaling(transformer_dim: int, activation: type[nn.Module]) -> nn.Sequential:
    """The two stride-2 transposed convolutions, 64² to 256², of every SAM decoder.

    SAM 2 keeps the same modules but adds its high-res features between them.
    """
    return nn.Sequential(
        nn.ConvTranspose2d(transformer_dim, transformer_dim // 4, kernel_size=2, stride=2),
        LayerNorm2d(transformer_dim // 4),
        activation(),
        nn.ConvTranspose2d(transformer_dim // 4, transformer_dim // 8, kernel_size=2, stride=2),
        activation(),
    )


def build_hypernetwork_mlps(transformer_dim: int, num_mask_tokens: int) -> nn.ModuleList:
    """One 3-layer MLP per mask token, mapping its output token to upscaled-feature weights."""
    return nn.ModuleList(
        MLP(transformer_dim, transformer_dim, transformer_dim // 8, 3)
        for _ in range(num_mask_tokens)
    )


def masks_from_tokens(
    mlps: nn.ModuleList, mask_tokens_out: torch.Tensor, upscaled: torch.Tensor
) -> torch.Tensor:
    """(B, K, C) mask-token outputs and (B, C/8, 256, 256) upscaled features -> (B, K, 256, 256)
    logits: each token's hypernetwork output dotted with every pixel's features."""
    hyper_in = torch.stack(
        [mlp(mask_tokens_out[:, i, :]) for i, mlp in enumerate(mlps)],
        dim=1,
    )
    b, c, h, w = upscaled.shape
    return (hyper_in @ upscaled.view(b, c, h * w)).view(b, -1, h, w)


class MaskDecoder(nn.Module):
    """Predicts masks and their IoU from an image embedding and prompt embeddings.

    Arguments:
      transformer_dim: channel width of the transformer (256).
      transformer: the `TwoWayTransformer`.
      num_multimask_outputs: masks predicted for ambiguous prompts (3); one more token gives the
        single-mask output.
      iou_head_depth / iou_head_hidden_dim: the IoU prediction MLP.
    """

    def __init__(
        self,
        *,
        transformer_dim: int,
        transformer: nn.Module,
        num_multimask_outputs: int = 3,
        activation: type[nn.Module] = nn.GELU,
        iou_head_depth: int = 3,
        iou_head_hidden_dim: int = 256,
    ) -> None:
        super().__init__()
        self.transformer_dim = transformer_dim
        self.transformer = transformer
        self.num_multimask_outputs = num_multimask_outputs
        self.iou_token = nn.Embedding(1, transformer_dim)
        self.num_mask_tokens = num_multimask_outputs + 1
        self.mask_tokens = nn.Embedding(self.num_mask_tokens, transformer_dim)
        self.output_upscaling = build_output_upscaling(transformer_dim, activation)
        self.output_hypernetworks_mlps = build_hypernetwork_mlps(
            transformer_dim, self.num_mask_tokens
        )
        self.iou_prediction_head = MLP(
            transformer_dim, iou_head_hidden_dim, self.num_mask_tokens, iou_head_depth
        )

    def forward(
        self,
        image_embeddings: torch.Tensor,
        image_pe: torch.Tensor,
        sparse_prompt_embeddings: torch.Tensor,
        dense_prompt_embeddings: torch.Tensor,
        multimask_output: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Predict masks.

        Arguments:
          image_embeddings: (1, C, 64, 64) features of one image.
          image_pe: (1, C, 64, 64) positional encoding (`PromptEncoder.get_dense_pe()`).
          sparse_prompt_embeddings: (B, N, C) point and box tokens.
          dense_prompt_embeddings: (B, C, 64, 64) mask-prompt embedding.
          multimask_output: return the 3 ambiguity-aware masks instead of the single one.
        Returns:
          (B, 3 or 1, 256, 256) low-res mask logits and (B, 3 or 1) predicted IoU.
        """
        masks, iou_pred = self.predict_masks(
            image_embeddings=image_embeddings,
            image_pe=image_pe,
            sparse_prompt_embeddings=sparse_prompt_embeddings,
            dense_prompt_embeddings=dense_prompt_embeddings,
        )
        mask_slice = slice(1, None) if multimask_output else slice(0, 1)
        return masks[:, mask_slice, :, :], iou_pred[:, mask_slice]

    def predict_masks(
        self,
        image_embeddings: torch.Tensor,
        image_pe: torch.Tensor,
        sparse_prompt_embeddings: torch.Tensor,
        dense_prompt_embeddings: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """All `num_mask_tokens` masks (B, 4, 256, 256) and their IoU predictions (B, 4)."""
        output_tokens = torch.cat([self.iou_token.weight, self.mask_tokens.weight], dim=0)
        output_tokens = output_tokens.unsqueeze(0).expand(sparse_prompt_embeddings.size(0), -1, -1)
        tokens = torch.cat((output_tokens, sparse_prompt_embeddings), dim=1)

        # One copy of the (single) image embedding per prompt set.
        src = torch.repeat_interleave(image_embeddings, tokens.shape[0], dim=0)
        src = src + dense_prompt_embeddings
        pos_src = torch.repeat_interleave(image_pe, tokens.shape[0], dim=0)
        b, c, h, w = src.shape

        hs, src = self.transformer(src, pos_src, tokens)
        iou_token_out = hs[:, 0, :]
        mask_tokens_out = hs[:, 1 : (1 + self.num_mask_tokens), :]

        src = src.transpose(1, 2).reshape(b, c, h, w)
        upscaled_embedding = self.output_upscaling(src)
        masks = masks_from_tokens(
            self.output_hypernetworks_mlps, mask_tokens_out, upscaled_embedding
        )
        iou_pred = self.iou_prediction_head(iou_token_out)
        return masks, iou_pred
