"""SAM 2 prompt encoder: SAM 1's, plus box corners passed as labelled points.

The parameters, the random-Fourier position encoding (`PositionEmbeddingRandom`), the mask
downscaling and the dense "no mask" embedding are SAM 1's exactly, so they are inherited. What
differs is the point path: SAM 2's image predictor never passes `boxes`; it prepends each box's
corners to the clicks as points labelled 2 (top-left) and 3 (bottom-right). That also means the
padding point (label -1) is appended even when a box is given, where SAM 1 drops it.
"""

from __future__ import annotations

import torch

from annotator.sam.prompt_encoder import PromptEncoder as Sam1PromptEncoder

# Point labels understood by SAM 2's prompt encoder.
LABEL_PADDING = -1
LABEL_NEGATIVE = 0
LABEL_POSITIVE = 1
LABEL_BOX_TOP_LEFT = 2
LABEL_BOX_BOTTOM_RIGHT = 3


class PromptEncoder(Sam1PromptEncoder):
    """Encodes points (labels -1..3) and low-res masks for the SAM 2 mask decoder.

    Arguments: as SAM 1's `PromptEncoder` (embed_dim 256, image_embedding_size (64, 64),
    input_image_size (1024, 1024), mask_in_chans 16).
    """

    def _embed_points(self, points: torch.Tensor, labels: torch.Tensor, pad: bool) -> torch.Tensor:
        """Embed (B, N, 2) XY points in the 1024² input frame with (B, N) int labels.

        Arguments:
          points: (B, N, 2) float32 XY in input pixels (0..1024).
          labels: (B, N) labels: -1 padding, 0/1 negative/positive click, 2/3 box corners.
          pad: append one padding point (0, 0) with label -1.
        Returns:
          (B, N (+1), 256) float32 sparse embeddings.
        """
        points = points + 0.5  # pixel centres
        if pad:
            padding_point = torch.zeros((points.shape[0], 1, 2), device=points.device)
            padding_label = -torch.ones((labels.shape[0], 1), device=labels.device)
            points = torch.cat([points, padding_point], dim=1)
            labels = torch.cat([labels, padding_label.to(labels.dtype)], dim=1)
        embedding = self.pe_layer.forward_with_coords(points, self.input_image_size)
        labels = labels.unsqueeze(-1)
        # A padding point carries no position, only its learned embedding.
        embedding = torch.where(
            labels == LABEL_PADDING,
            torch.zeros_like(embedding) + self.not_a_point_embed.weight,
            embedding,
        )
        for label in (LABEL_NEGATIVE, LABEL_POSITIVE, LABEL_BOX_TOP_LEFT, LABEL_BOX_BOTTOM_RIGHT):
            embedding = torch.where(
                labels == label, embedding + self.point_embedding_weight(label), embedding
            )
        return embedding
