"""Torch wrapper reproducing Meta's ONNX decoder (`SamOnnxModel`), written to be traceable.

The graph takes an image embedding and prompts already in the resized frame and returns
full-resolution logits. Unlike Meta's export, the crop of the padded 1024x1024 logits is computed
from `orig_im_size` with tensor ops, so one exported graph is correct for every image size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .sam import Sam


class SamOnnxModel(nn.Module):
    """Decoder graph for the browser.

    Arguments:
      model: the `Sam` model (its prompt encoder and mask decoder are used).
      return_single_mask: return only the best mask: with more than one real point the
        single-mask token (index 0) wins, with one point the best-scoring of the three
        multimask tokens, as in Meta's `select_masks`.
    """

    def __init__(self, model: Sam, return_single_mask: bool) -> None:
        super().__init__()
        self.model = model
        self.mask_decoder = model.mask_decoder
        self.img_size = model.img_size
        self.return_single_mask = return_single_mask

    @staticmethod
    def resize_longest_image_size(
        input_image_size: torch.Tensor, longest_side: int
    ) -> torch.Tensor:
        """(2,) float (H, W) -> (2,) int64 resized size, `floor(x * scale + 0.5)`."""
        input_image_size = input_image_size.to(torch.float32)
        scale = longest_side / torch.max(input_image_size)
        return torch.floor(scale * input_image_size + 0.5).to(torch.int64)

    def _embed_points(self, point_coords: torch.Tensor, point_labels: torch.Tensor) -> torch.Tensor:
        """(1, N, 2) coords in the resized frame and (1, N) float labels -> (1, N, C).

        Label -1 is the padding point (`not_a_point_embed`); 0/1 background/foreground;
        2/3 box corners.
        """
        prompt_encoder = self.model.prompt_encoder
        point_coords = (point_coords + 0.5) / self.img_size
        point_embedding = prompt_encoder.pe_layer._pe_encoding(point_coords)
        point_labels = point_labels.unsqueeze(-1).expand_as(point_embedding)
        point_embedding = point_embedding * (point_labels != -1)
        point_embedding = point_embedding + prompt_encoder.not_a_point_embed.weight * (
            point_labels == -1
        )
        for i in range(prompt_encoder.num_point_embeddings):
            point_embedding = point_embedding + prompt_encoder.point_embedding_weight(i) * (
                point_labels == i
            )
        return point_embedding

    def _embed_masks(self, input_mask: torch.Tensor, has_mask_input: torch.Tensor) -> torch.Tensor:
        prompt_encoder = self.model.prompt_encoder
        mask_embedding = has_mask_input * prompt_encoder.mask_downscaling(input_mask)
        return mask_embedding + (1 - has_mask_input) * prompt_encoder.no_mask_embed.weight.reshape(
            1, -1, 1, 1
        )

    def mask_postprocessing(self, masks: torch.Tensor, orig_im_size: torch.Tensor) -> torch.Tensor:
        """(B, C, 256, 256) logits -> (B, C, H, W) for `orig_im_size` = (H, W) float."""
        masks = F.interpolate(
            masks, size=(self.img_size, self.img_size), mode="bilinear", align_corners=False
        )
        prepadded = self.resize_longest_image_size(orig_im_size, self.img_size)
        # index_select with an arange keeps the crop size a graph value when traced; Python
        # slicing with tensor bounds would freeze the tracing image's size into the graph.
        rows = torch.arange(prepadded[0], device=masks.device)  # type: ignore[call-overload]
        cols = torch.arange(prepadded[1], device=masks.device)  # type: ignore[call-overload]
        masks = masks.index_select(2, rows).index_select(3, cols)
        orig = orig_im_size.to(torch.int64)
        return F.interpolate(masks, size=(orig[0], orig[1]), mode="bilinear", align_corners=False)  # type: ignore[arg-type]

    def select_masks(
        self, masks: torch.Tensor, iou_preds: torch.Tensor, num_points: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Pick one mask per batch item: token 0 when more than 2 sparse tokens (>= 2 real
        points, the padding point counts), otherwise the best multimask token by IoU."""
        weights = [1000.0] + [0.0] * (self.mask_decoder.num_mask_tokens - 1)
        score_reweight = torch.tensor([weights], device=iou_preds.device)
        score = iou_preds + (num_points - 2.5) * score_reweight
        best_idx = torch.argmax(score, dim=1)
        batch = torch.arange(masks.shape[0], device=masks.device)
        return masks[batch, best_idx, :, :].unsqueeze(1), iou_preds[batch, best_idx].unsqueeze(1)

    @torch.no_grad()
    def forward(
        self,
        image_embeddings: torch.Tensor,
        point_coords: torch.Tensor,
        point_labels: torch.Tensor,
        mask_input: torch.Tensor,
        has_mask_input: torch.Tensor,
        orig_im_size: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Decode.

        Arguments:
          image_embeddings: (1, 256, 64, 64) float32.
          point_coords: (1, N, 2) float32 XY in the resized frame (use `ResizeLongestSide`),
            including a padding point (0, 0) with label -1 when no box is given.
          point_labels: (1, N) float32.
          mask_input: (1, 1, 256, 256) float32 previous low-res logits.
          has_mask_input: (1,) float32, 1 to use `mask_input`, 0 otherwise.
          orig_im_size: (2,) float32 (H, W).
        Returns:
          masks (1, C, H, W) logits, iou_predictions (1, C), low_res_masks (1, C, 256, 256),
          C = 1 with `return_single_mask`, else 4.
        """
        sparse_embedding = self._embed_points(point_coords, point_labels)
        dense_embedding = self._embed_masks(mask_input, has_mask_input)
        masks, scores = self.mask_decoder.predict_masks(
            image_embeddings=image_embeddings,
            image_pe=self.model.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse_embedding,
            dense_prompt_embeddings=dense_embedding,
        )
        if self.return_single_mask:
            masks, scores = self.select_masks(masks, scores, point_coords.shape[1])
        upscaled_masks = self.mask_postprocessing(masks, orig_im_size)
        return upscaled_masks, scores, masks
