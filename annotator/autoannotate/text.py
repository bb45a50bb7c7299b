"""``auto_annotate(..., text=[...])``: the text model that stands in for the detector.

Imports torch (through the segmenters) only when a text model is built.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from annotator.autoannotate.detectors import Detection
from annotator.sam import SamPredictor
from annotator.sam.sam import Sam
from annotator.text import (
    DEFAULT_TEXT_DETECTOR,
    TextSegmenter,
    locate_text_model,
    text_model_kind,
)

# auto_annotate's det_model default (Ultralytics'); with text it means "the default text model".
ULTRALYTICS_DEFAULT = "yolo11x.pt"


def build_text_segmenter(
    det_model: str | Path | TextSegmenter,
    *,
    sam: Callable[[], Sam],
    device: str,
    conf: float,
    iou: float,
    max_det: int,
) -> TextSegmenter:
    """The segmenter ``det_model`` names: an already built one, or a model id in the local
    Hugging Face cache / a folder holding SAM 3 (masks directly), OWLv2 or Grounding DINO (boxes
    that prompt the project's SAM, built by ``sam()`` only then)."""
    if isinstance(det_model, TextSegmenter):
        return det_model
    if not isinstance(det_model, str | Path):
        raise ValueError(
            "with text, det_model names a text model (SAM 3, OWLv2 or Grounding DINO: a model "
            f"id or a folder) or is a TextSegmenter, not a {type(det_model).__name__}"
        )
    spec = str(det_model)
    if spec == ULTRALYTICS_DEFAULT:
        spec = DEFAULT_TEXT_DETECTOR
    # The message's "set X to that folder": here the caller's own argument.
    folder = locate_text_model(spec, setting="det_model (--det-model)")
    kind = text_model_kind(folder)
    if kind == "sam3":
        from annotator.text.sam3 import Sam3Segmenter

        return Sam3Segmenter.from_folder(folder, device=device, score_threshold=conf)
    from annotator.text.detector import DetectorThenSam

    return DetectorThenSam.from_folder(
        folder,
        kind=kind,
        sam_predictor=SamPredictor(sam()),
        device=device,
        score_threshold=conf,
        iou_threshold=iou,
        max_det=max_det,
    )


def segment_phrases(
    segmenter: TextSegmenter,
    image: np.ndarray,
    phrases: list[str],
    *,
    classes: list[int] | None,
    max_det: int,
) -> tuple[list[Detection], np.ndarray]:
    """Detections (class id = phrase index) and their (N, H, W) bool masks for one image: the
    ``classes`` phrase indices only, the ``max_det`` best, in the segmenter's order."""
    instances = segmenter.segment(image, phrases)
    if classes is not None:
        instances = [i for i in instances if i.phrase_index in set(classes)]
    best = set(sorted(range(len(instances)), key=lambda k: -instances[k].score)[:max_det])
    instances = [inst for k, inst in enumerate(instances) if k in best]
    detections = [Detection(i.box_xyxy, i.phrase_index, i.score) for i in instances]
    if not instances:
        return detections, np.zeros((0, *image.shape[:2]), dtype=bool)
    return detections, np.stack([i.mask for i in instances])
