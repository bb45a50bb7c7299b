"""What a text segmenter takes and gives, and the checks every path runs on its input.

Coordinates: boxes are XYXY in original image pixels (x right, y down, corners of pixels, as in
``annotator.geometry``); masks are (H, W) bool over the original image. No torch here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

# Each phrase costs a decoder pass (SAM 3) or a query (OWLv2), and Grounding DINO reads all the
# phrases of a request as one text of at most 256 tokens: 32 phrases of a few words each fit in
# it. A request naming more than 32 kinds of object is a class list for a detector, not a prompt.
MAX_PHRASES = 32
# Longer than any noun phrase; the per-model token limit (16 to 32 tokens) is checked after
# tokenising, this bound only keeps a pasted paragraph away from the tokenizer.
MAX_PHRASE_CHARS = 200


class TextPromptError(ValueError):
    """Bad input to a text segmenter: the message says which phrase or value and why."""


@dataclass(frozen=True)
class TextInstance:
    """One object found for a phrase.

    Attributes:
      phrase_index: index into the phrases of the request.
      mask: (H, W) bool over the original image.
      score: confidence in [0, 1].
      box_xyxy: (x0, y0, x1, y1) in original image pixels.
    """

    phrase_index: int
    mask: np.ndarray
    score: float
    box_xyxy: tuple[float, float, float, float]


@dataclass(frozen=True)
class Exemplar:
    """An example box for SAM 3 (``positive=False``: "not this kind of thing").

    Attributes:
      box_xyxy: (x0, y0, x1, y1) in original image pixels.
    """

    box_xyxy: tuple[float, float, float, float]
    positive: bool = True


@runtime_checkable
class TextSegmenter(Protocol):
    """Every instance of each phrase in an image (SAM 3, or a detector whose boxes prompt SAM)."""

    kind: str

    def segment(
        self,
        image: np.ndarray,
        phrases: Sequence[str],
        *,
        exemplars: Sequence[Sequence[Exemplar]] | None = None,
    ) -> list[TextInstance]:
        """Arguments: image (H, W, 3) uint8 RGB; phrases; exemplars, one list per phrase (SAM 3
        only). Returns: instances, grouped by phrase, best first within a phrase."""
        ...


def check_image(image: object) -> np.ndarray:
    """The image as (H, W, 3) uint8 RGB, or ``TextPromptError`` saying what it is instead."""
    if not isinstance(image, np.ndarray):
        raise TextPromptError(f"image must be a numpy array, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise TextPromptError(f"image must be (H, W, 3) RGB, got shape {tuple(image.shape)}")
    if image.dtype != np.uint8:
        raise TextPromptError(f"image must be uint8, got {image.dtype}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise TextPromptError(f"image is empty: shape {tuple(image.shape)}")
    return image


def check_phrases(phrases: object, *, max_phrases: int = MAX_PHRASES) -> list[str]:
    """Phrases stripped of surrounding spaces, or ``TextPromptError`` (none, too many, blank,
    too long, not text)."""
    if isinstance(phrases, str) or not isinstance(phrases, Sequence):
        raise TextPromptError("phrases must be a list of strings, e.g. ['cup', 'red mug']")
    if not phrases:
        raise TextPromptError("give at least one phrase")
    if len(phrases) > max_phrases:
        raise TextPromptError(
            f"{len(phrases)} phrases given; at most {max_phrases} per request (each is a "
            "separate query to the model)"
        )
    clean = []
    for i, phrase in enumerate(phrases):
        if not isinstance(phrase, str):
            raise TextPromptError(f"phrase {i} must be a string, got {type(phrase).__name__}")
        text = " ".join(phrase.split())
        if not text:
            raise TextPromptError(f"phrase {i} is empty")
        if len(text) > MAX_PHRASE_CHARS:
            raise TextPromptError(
                f"phrase {i} is {len(text)} characters; at most {MAX_PHRASE_CHARS} (a short noun "
                "phrase such as 'red cup' works best)"
            )
        clean.append(text)
    return clean


def check_token_lengths(lengths: Sequence[int], phrases: Sequence[str], *, limit: int) -> None:
    """``TextPromptError`` for the first phrase whose token count exceeds what the model reads
    (it would otherwise be cut silently, or fail deep inside the model)."""
    for i, (count, phrase) in enumerate(zip(lengths, phrases, strict=True)):
        if count > limit:
            raise TextPromptError(
                f"phrase {i} ({phrase[:40]!r}) is {count} tokens; this model reads at most {limit}"
            )


def check_exemplars(
    exemplars: Sequence[Sequence[Exemplar]] | None, phrases: Sequence[str], size: tuple[int, int]
) -> None:
    """``TextPromptError`` unless there is one list per phrase of finite, non-empty boxes."""
    if exemplars is None:
        return
    if len(exemplars) != len(phrases):
        raise TextPromptError(
            f"exemplars: one list per phrase expected, got {len(exemplars)} for {len(phrases)}"
        )
    h, w = size
    for i, boxes in enumerate(exemplars):
        for ex in boxes:
            x0, y0, x1, y1 = ex.box_xyxy
            if not np.all(np.isfinite(ex.box_xyxy)) or not (x1 > x0 and y1 > y0):
                raise TextPromptError(f"exemplar box {ex.box_xyxy} of phrase {i} is empty")
            if x1 <= 0 or y1 <= 0 or x0 >= w or y0 >= h:
                raise TextPromptError(
                    f"exemplar box {ex.box_xyxy} of phrase {i} lies outside the {w}x{h} image"
                )


def clip_box(box: Sequence[float], size: tuple[int, int]) -> tuple[float, float, float, float]:
    """A box clipped to the image: OWLv2 predicts on the image padded to a square, so its boxes
    may reach into the padding."""
    h, w = size
    x0, y0, x1, y1 = (float(v) for v in box)
    return (min(max(x0, 0.0), w), min(max(y0, 0.0), h), min(max(x1, 0.0), w), min(max(y1, 0.0), h))
