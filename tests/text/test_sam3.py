"""SAM 3 path on a tiny random Sam3Model: the service's instances are transformers' own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from annotator.text import Exemplar, TextPromptError, load_text_model
from annotator.text.sam3 import Sam3Segmenter

PHRASES = ["cup", "red mug"]
# Random weights put every query's score near 0.25: this keeps some and drops others.
SCORE = 0.25


@pytest.fixture(scope="module")
def segmenter(sam3_folder: Path) -> Sam3Segmenter:
    seg = load_text_model(sam3_folder, setting="SAM3_MODEL", score_threshold=SCORE)
    assert isinstance(seg, Sam3Segmenter)
    return seg


def reference(
    folder: Path, image: np.ndarray, phrase: str, boxes: list[Any] | None = None
) -> dict[str, torch.Tensor]:
    """What transformers' documented usage gives: processor, full forward, its post-processing."""
    from transformers import Sam3Model, Sam3Processor

    model = Sam3Model.from_pretrained(folder).eval()
    processor = Sam3Processor.from_pretrained(folder)
    kwargs: dict[str, Any] = {}
    if boxes:
        kwargs = {"input_boxes": [boxes], "input_boxes_labels": [[1] * len(boxes)]}
    inputs = processor(images=image, text=phrase, return_tensors="pt", **kwargs)
    with torch.inference_mode():
        outputs = model(**inputs)
    return processor.post_process_instance_segmentation(
        outputs, threshold=SCORE, mask_threshold=0.5, target_sizes=inputs["original_sizes"].tolist()
    )[0]


def assert_same(instances: list[Any], expected: dict[str, torch.Tensor]) -> None:
    order = torch.argsort(expected["scores"], descending=True, stable=True)
    assert len(instances) == len(order)
    for inst, i in zip(instances, order.tolist(), strict=True):
        assert inst.score == pytest.approx(float(expected["scores"][i]), abs=1e-5)
        assert np.allclose(inst.box_xyxy, expected["boxes"][i].numpy(), atol=1e-3)
        want = expected["masks"][i].numpy().astype(bool)
        assert inst.mask.shape == want.shape and inst.mask.dtype == bool
        # The image is encoded once and reused for each phrase; allow the odd pixel whose
        # probability sits on the threshold, nothing more.
        assert np.mean(inst.mask != want) < 1e-3


def test_masks_and_scores_are_transformers_own_post_processing(
    segmenter: Sam3Segmenter, sam3_folder: Path, image: np.ndarray
) -> None:
    instances = segmenter.segment(image, PHRASES)
    assert {i.phrase_index for i in instances} <= {0, 1}
    for index, phrase in enumerate(PHRASES):
        expected = reference(sam3_folder, image, phrase)
        assert len(expected["scores"]) > 0, "the threshold should keep some instances"
        assert_same([i for i in instances if i.phrase_index == index], expected)
    h, w = image.shape[:2]
    assert all(i.mask.shape == (h, w) for i in instances)


def test_example_boxes_are_passed_as_sam3_exemplars(
    segmenter: Sam3Segmenter, sam3_folder: Path, image: np.ndarray
) -> None:
    box = [10.0, 5.0, 60.0, 50.0]
    instances = segmenter.segment(image, ["cup"], exemplars=[[Exemplar(tuple(box))]])  # type: ignore[arg-type]
    assert_same(instances, reference(sam3_folder, image, "cup", boxes=[box]))
    plain = segmenter.segment(image, ["cup"])
    assert [i.score for i in plain] != [i.score for i in instances], "the box changed nothing"


def test_a_phrase_longer_than_the_text_encoder_reads_is_refused(
    segmenter: Sam3Segmenter, image: np.ndarray
) -> None:
    # The tiny vocabulary spells unknown words byte by byte: 40 letters are 40+ tokens.
    with pytest.raises(TextPromptError, match=r"phrase 1 .* tokens; this model reads at most 32"):
        segmenter.segment(image, ["cup", "x" * 40])
    with pytest.raises(TextPromptError, match="one list per phrase"):
        segmenter.segment(image, ["cup", "dog"], exemplars=[[]])
    with pytest.raises(TextPromptError, match="outside"):
        segmenter.segment(image, ["cup"], exemplars=[[Exemplar((500.0, 500.0, 600.0, 600.0))]])
