"""SAM 3 through ``transformers``: a phrase (and optionally example boxes) gives the mask and
score of every matching instance directly, with transformers' own pre- and post-processing.

The image is encoded once per request; each phrase then runs the text encoder and the DETR-style
detector and mask heads on the shared vision features (``vision_embeds``), one phrase at a time
so that memory does not grow with the number of phrases.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from annotator.text.prompts import (
    Exemplar,
    TextInstance,
    check_exemplars,
    check_image,
    check_phrases,
    check_token_lengths,
)


class Sam3Segmenter:
    """Every instance of each phrase, from ``Sam3Model`` / ``Sam3Processor``.

    Arguments:
      model: a ``transformers.Sam3Model`` in eval mode.
      processor: its ``transformers.Sam3Processor``.
      score_threshold: keep instances whose score (query score times presence score) is above.
      mask_threshold: binarise the mask probabilities (after resizing to the image) above.
    """

    kind = "sam3"

    def __init__(
        self,
        model: Any,
        processor: Any,
        *,
        score_threshold: float = 0.3,
        mask_threshold: float = 0.5,
    ) -> None:
        self.model = model.eval()
        self.processor = processor
        self.score_threshold = score_threshold
        self.mask_threshold = mask_threshold
        # Sam3Processor pads every text to this many tokens (its __call__ fixes max_length=32).
        self.max_tokens = 32

    @classmethod
    def from_folder(
        cls, folder: Path, *, device: str | torch.device = "cpu", **thresholds: Any
    ) -> Sam3Segmenter:
        """Load model and processor from a local folder (a HF cache snapshot or save_pretrained)."""
        from annotator.text.deps import require_torchvision

        require_torchvision()
        from transformers import Sam3Model, Sam3Processor

        model: Any = Sam3Model.from_pretrained(folder, local_files_only=True, dtype=torch.float32)
        processor = Sam3Processor.from_pretrained(folder, local_files_only=True)
        return cls(model.to(device), processor, **thresholds)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _token_counts(self, phrases: Sequence[str]) -> list[int]:
        ids = self.processor.tokenizer(list(phrases), add_special_tokens=True)["input_ids"]
        return [len(row) for row in ids]

    @torch.inference_mode()
    def segment(
        self,
        image: np.ndarray,
        phrases: Sequence[str],
        *,
        exemplars: Sequence[Sequence[Exemplar]] | None = None,
    ) -> list[TextInstance]:
        """Instances of each phrase.

        Arguments:
          image: (H, W, 3) uint8 RGB.
          phrases: short noun phrases ("cup", "red mug"); at most ``MAX_PHRASES``.
          exemplars: optional example boxes, one list per phrase (an empty list for none).

        Returns:
          ``TextInstance``s grouped by phrase in order, best score first within a phrase; masks
          (H, W) bool and boxes XYXY in original pixels.
        """
        image = check_image(image)
        phrases = check_phrases(phrases)
        size = (int(image.shape[0]), int(image.shape[1]))
        check_exemplars(exemplars, phrases, size)
        check_token_lengths(self._token_counts(phrases), phrases, limit=self.max_tokens)
        pixels = self.processor(images=image, return_tensors="pt")["pixel_values"]
        vision = self.model.get_vision_features(pixel_values=pixels.to(self.device))
        instances: list[TextInstance] = []
        for index, phrase in enumerate(phrases):
            boxes = list(exemplars[index]) if exemplars is not None else []
            outputs = self.model(vision_embeds=vision, **self._text_inputs(phrase, boxes, size))
            result = self.processor.post_process_instance_segmentation(
                outputs,
                threshold=self.score_threshold,
                mask_threshold=self.mask_threshold,
                target_sizes=[size],
            )[0]
            instances += _instances(index, result)
        return instances

    def _text_inputs(
        self, phrase: str, exemplars: list[Exemplar], size: tuple[int, int]
    ) -> dict[str, torch.Tensor]:
        """input_ids, attention_mask and, with exemplars, input_boxes (normalised cxcywh, as
        the processor converts them) and their labels (1 positive, 0 negative)."""
        kwargs: dict[str, Any] = {"text": phrase, "return_tensors": "pt"}
        if exemplars:
            kwargs["original_sizes"] = [list(size)]
            kwargs["input_boxes"] = [[list(e.box_xyxy) for e in exemplars]]
            kwargs["input_boxes_labels"] = [[int(e.positive) for e in exemplars]]
        encoded = self.processor(**kwargs)
        names = ("input_ids", "attention_mask", "input_boxes", "input_boxes_labels")
        return {k: encoded[k].to(self.device) for k in names if k in encoded}


def _instances(index: int, result: dict[str, torch.Tensor]) -> list[TextInstance]:
    scores = result["scores"].float().cpu().numpy()
    boxes = result["boxes"].float().cpu().numpy()
    masks = result["masks"].cpu().numpy().astype(bool)
    order = np.argsort(-scores, kind="stable")
    return [
        TextInstance(
            phrase_index=index,
            mask=masks[i],
            score=float(scores[i]),
            box_xyxy=(
                float(boxes[i][0]),
                float(boxes[i][1]),
                float(boxes[i][2]),
                float(boxes[i][3]),
            ),
        )
        for i in order
    ]
