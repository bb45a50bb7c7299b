"""Text prompts: every instance of a phrase ("cup") in an image, two ways.

- ``Sam3Segmenter``: SAM 3 through ``transformers`` gives masks and scores directly (a phrase,
  optionally with example boxes).
- ``DetectorThenSam``: OWLv2 or Grounding DINO through ``transformers`` give boxes; the
  project's SAM turns them into masks.

``load_text_model(spec, ...)`` builds either from a model id in the local Hugging Face cache or
from a folder. Workers and CLIs only: importing this package imports neither torch nor
transformers (the segmenters and ``load_text_model``'s work do, lazily), and no Django.
"""

from __future__ import annotations

from typing import Any

from annotator.text.models import (
    DEFAULT_SAM3_MODEL,
    DEFAULT_TEXT_DETECTOR,
    DETECTOR_SETTING,
    GROUNDING_DINO_MODEL,
    SAM3_SETTING,
    TextModelUnavailable,
    load_text_model,
    locate_text_model,
    text_model_kind,
)
from annotator.text.prompts import (
    MAX_PHRASE_CHARS,
    MAX_PHRASES,
    Exemplar,
    TextInstance,
    TextPromptError,
    TextSegmenter,
    check_image,
    check_phrases,
)

__all__ = [
    "DEFAULT_SAM3_MODEL",
    "DEFAULT_TEXT_DETECTOR",
    "DETECTOR_SETTING",
    "GROUNDING_DINO_MODEL",
    "MAX_PHRASES",
    "MAX_PHRASE_CHARS",
    "SAM3_SETTING",
    "DetectorThenSam",
    "Exemplar",
    "Sam3Segmenter",
    "TextInstance",
    "TextModelUnavailable",
    "TextPromptError",
    "TextSegmenter",
    "check_image",
    "check_phrases",
    "load_text_model",
    "locate_text_model",
    "text_model_kind",
]


def __getattr__(name: str) -> Any:
    # The two segmenters import torch; resolve them only when asked for.
    if name == "Sam3Segmenter":
        from annotator.text.sam3 import Sam3Segmenter

        return Sam3Segmenter
    if name == "DetectorThenSam":
        from annotator.text.detector import DetectorThenSam

        return DetectorThenSam
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
