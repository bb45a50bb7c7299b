"""An open-vocabulary detector through ``transformers`` (OWLv2, Grounding DINO) finds boxes for
the phrases; the project's SAM turns them into masks (the auto-annotate path).

Boxes come from the processors' own post-processing with the image's original size as target,
so they are in original pixels, the frame ``SamPredictor`` takes boxes in.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from annotator.autoannotate.detectors import nms
from annotator.sam import SamPredictor
from annotator.sam.predictor import segment_boxes
from annotator.text.prompts import (
    Exemplar,
    TextInstance,
    TextPromptError,
    check_image,
    check_phrases,
    check_token_lengths,
    clip_box,
)

DETECTOR_KINDS = ("owlv2", "grounding-dino")


class DetectorThenSam:
    """Boxes for the phrases from an open-vocabulary detector, masks from the project's SAM.

    Arguments:
      model: ``Owlv2ForObjectDetection`` or ``GroundingDinoForObjectDetection``, eval mode.
      processor: its ``Owlv2Processor`` / ``GroundingDinoProcessor``.
      kind: ``owlv2`` or ``grounding-dino``.
      sam_predictor: the project's SAM predictor.
      score_threshold: keep boxes scoring above (the processors' ``threshold``).
      iou_threshold: per-phrase non-maximum suppression (OWLv2 and Grounding DINO predict
        overlapping boxes for one object); None keeps every box the processor returns.
      max_det: at most this many boxes per image, best first.
    """

    def __init__(
        self,
        model: Any,
        processor: Any,
        *,
        kind: str,
        sam_predictor: SamPredictor,
        score_threshold: float = 0.25,
        iou_threshold: float | None = 0.45,
        max_det: int = 300,
    ) -> None:
        if kind not in DETECTOR_KINDS:
            raise ValueError(f"kind must be one of {DETECTOR_KINDS}, got {kind!r}")
        self.kind = kind
        self.model = model.eval()
        self.processor = processor
        self.predictor = sam_predictor
        self.score_threshold = score_threshold
        self.iou_threshold = iou_threshold
        self.max_det = max_det

    @classmethod
    def from_folder(
        cls,
        folder: Path,
        *,
        kind: str,
        sam_predictor: SamPredictor,
        device: str | torch.device = "cpu",
        **thresholds: Any,
    ) -> DetectorThenSam:
        """Load model and processor from a local folder (a HF cache snapshot or save_pretrained)."""
        from annotator.text.deps import require_torchvision

        require_torchvision(optional=True)
        # Looked up by name, typed Any: mypy sees transformers in the text venv and not in the
        # main one, and the two families' classes are unrelated types.
        transformers: Any = importlib.import_module("transformers")
        if kind == "owlv2":
            model_cls = transformers.Owlv2ForObjectDetection
            processor_cls = transformers.Owlv2Processor
        else:
            model_cls = transformers.GroundingDinoForObjectDetection
            processor_cls = transformers.GroundingDinoProcessor
        model: Any = model_cls.from_pretrained(folder, local_files_only=True, dtype=torch.float32)
        processor = processor_cls.from_pretrained(folder, local_files_only=True)
        return cls(
            model.to(device), processor, kind=kind, sam_predictor=sam_predictor, **thresholds
        )

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def max_tokens(self) -> int:
        """Tokens one phrase may take: OWLv2's text encoder reads 16 per query; Grounding DINO
        reads all phrases as one text of ``max_text_len`` tokens (checked in ``_grounding``)."""
        if self.kind == "owlv2":
            return int(self.model.config.text_config.max_position_embeddings)
        return int(self.model.config.max_text_len)

    def segment(
        self,
        image: np.ndarray,
        phrases: Sequence[str],
        *,
        exemplars: Sequence[Sequence[Exemplar]] | None = None,
    ) -> list[TextInstance]:
        """Instances of each phrase: detector boxes, then one batched SAM decoder call.

        Arguments:
          image: (H, W, 3) uint8 RGB.
          phrases: short noun phrases; at most ``MAX_PHRASES``.
          exemplars: not supported by the detectors (SAM 3 only); must be None.

        Returns:
          ``TextInstance``s grouped by phrase in order, best score first within a phrase; masks
          (H, W) bool and boxes XYXY in original pixels.
        """
        if exemplars is not None:
            raise TextPromptError(f"example boxes are a SAM 3 prompt; {self.kind} takes phrases")

        image = check_image(image)
        boxes, scores, labels = self.detect(image, phrases)
        if len(boxes) == 0:
            return []
        self.predictor.set_image(image)
        masks = segment_boxes(self.predictor, boxes)
        return [
            TextInstance(int(label), mask, float(score), (box[0], box[1], box[2], box[3]))
            for box, score, label, mask in zip(boxes.tolist(), scores, labels, masks, strict=True)
        ]

    @torch.inference_mode()
    def detect(
        self, image: np.ndarray, phrases: Sequence[str]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boxes for the phrases.

        Returns:
          boxes (N, 4) float32 XYXY in original pixels, clipped to the image; scores (N,);
          phrase indices (N,) int. Grouped by phrase in order, best first within a phrase.
        """
        image = check_image(image)
        phrases = check_phrases(phrases)
        size = (int(image.shape[0]), int(image.shape[1]))
        if self.kind == "owlv2":
            boxes, scores, labels = self._owlv2(image, phrases, size)
        else:
            boxes, scores, labels = self._grounding(image, phrases, size)
        boxes = np.array([clip_box(b, size) for b in boxes], np.float32).reshape(-1, 4)
        return self._select(boxes, scores, labels, len(phrases))

    def _owlv2(
        self, image: np.ndarray, phrases: list[str], size: tuple[int, int]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        counts = [len(ids) for ids in self.processor.tokenizer(phrases)["input_ids"]]
        check_token_lengths(counts, phrases, limit=self.max_tokens)
        inputs = self.processor(text=[phrases], images=image, return_tensors="pt")
        outputs = self.model(**{k: v.to(self.device) for k, v in inputs.items()})
        result = self.processor.post_process_grounded_object_detection(
            outputs, threshold=self.score_threshold, target_sizes=[size]
        )[0]
        return _numpy(result["boxes"]), _numpy(result["scores"]), _numpy(result["labels"])

    def _grounding(
        self, image: np.ndarray, phrases: list[str], size: tuple[int, int]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        for i, phrase in enumerate(phrases):
            if "." in phrase:
                raise TextPromptError(
                    f"phrase {i} ({phrase!r}) contains '.', which Grounding DINO reads as the "
                    "end of a phrase"
                )
        text, spans = _merged_text(phrases)
        encoded = self.processor.tokenizer(text, return_offsets_mapping=True)
        check_token_lengths([len(encoded["input_ids"])], [text], limit=self.max_tokens)
        inputs = self.processor(images=image, text=[phrases], return_tensors="pt")
        outputs = self.model(**{k: v.to(self.device) for k, v in inputs.items()})
        result = self.processor.post_process_grounded_object_detection(
            outputs,
            input_ids=inputs["input_ids"],
            threshold=self.score_threshold,
            text_threshold=self.score_threshold,
            target_sizes=[size],
        )[0]
        # The processor names each box by the decoded tokens above text_threshold, which may
        # be part of a phrase or run across two; the phrase is the one whose tokens score
        # highest for the box. Its `keep` is recomputed here the way the processor computes it.
        probs = outputs.logits[0].sigmoid()
        keep = probs.max(-1).values > self.score_threshold
        token_phrase = _token_phrases(encoded["offset_mapping"], spans, probs.shape[-1])
        per_phrase = torch.stack(
            [
                torch.where(token_phrase == i, probs[keep], torch.zeros(())).max(-1).values
                for i in range(len(phrases))
            ],
            dim=-1,
        )
        labels = per_phrase.argmax(-1)
        return _numpy(result["boxes"]), _numpy(result["scores"]), _numpy(labels)

    def _select(
        self, boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, n_phrases: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-phrase NMS, the ``max_det`` best overall, then grouped by phrase."""
        keep: list[int] = []
        for phrase in range(n_phrases):
            idx = np.flatnonzero(labels == phrase)
            if len(idx) == 0:
                continue
            if self.iou_threshold is None:
                keep += idx[np.argsort(-scores[idx], kind="stable")].tolist()
            else:
                keep += idx[nms(boxes[idx], scores[idx], self.iou_threshold)].tolist()
        best = sorted(keep, key=lambda i: -scores[i])[: self.max_det]
        order = sorted(best, key=lambda i: (labels[i], -scores[i]))
        return boxes[order], scores[order].astype(np.float32), labels[order].astype(np.int64)


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return (
        tensor.detach().float().cpu().numpy()
        if tensor.is_floating_point()
        else tensor.cpu().numpy()
    )


def _merged_text(phrases: list[str]) -> tuple[str, list[tuple[int, int]]]:
    """Grounding DINO's prompt "cup. red mug." (the processor's own merge) and each phrase's
    character span in it."""
    spans, start = [], 0
    for phrase in phrases:
        label = phrase.strip().lower()
        spans.append((start, start + len(label)))
        start += len(label) + 2
    return ". ".join(p.strip().lower() for p in phrases) + ".", spans


def _token_phrases(
    offsets: list[tuple[int, int]], spans: list[tuple[int, int]], width: int
) -> torch.Tensor:
    """(width,) phrase index of each token position, -1 for special tokens, dots and padding."""
    owner = torch.full((width,), -1, dtype=torch.long)
    for t, (a, b) in enumerate(offsets[:width]):
        for i, (s, e) in enumerate(spans):
            if b > a and a >= s and b <= e:
                owner[t] = i
    return owner
