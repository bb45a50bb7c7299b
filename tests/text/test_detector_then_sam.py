"""Detector path on tiny random OWLv2 / Grounding DINO and the pack's small SAM: the boxes are
the processor's own, and SAM gets them in the image's frame."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from annotator.sam import SamPredictor
from annotator.text import TextPromptError, load_text_model
from annotator.text.detector import DetectorThenSam
from annotator.text.prompts import clip_box

PHRASES = ["cup", "red mug"]


def processor_boxes(
    kind: str, folder: Path, image: np.ndarray, phrases: list[str], threshold: float
) -> dict[str, Any]:
    """transformers' documented zero-shot detection usage, target size = the image's."""
    if kind == "owlv2":
        from transformers import Owlv2ForObjectDetection as Model
        from transformers import Owlv2Processor as Processor
    else:
        from transformers import GroundingDinoForObjectDetection as Model  # type: ignore[assignment]
        from transformers import GroundingDinoProcessor as Processor  # type: ignore[assignment]
    model = Model.from_pretrained(folder).eval()
    processor = Processor.from_pretrained(folder)
    inputs = processor(images=image, text=[phrases], return_tensors="pt")
    with torch.inference_mode():
        outputs = model(**inputs)
    extra = (
        {"input_ids": inputs["input_ids"], "text_threshold": threshold} if kind != "owlv2" else {}
    )
    result = processor.post_process_grounded_object_detection(
        outputs, threshold=threshold, target_sizes=[image.shape[:2]], **extra
    )[0]
    result["logits"] = outputs.logits[0]
    result["input_ids"] = inputs["input_ids"][0]
    return result


def segmenter(folder: Path, predictor: SamPredictor, **options: Any) -> DetectorThenSam:
    seg = load_text_model(folder, sam_predictor=predictor, **options)
    assert isinstance(seg, DetectorThenSam)
    return seg


@pytest.mark.parametrize("kind", ["owlv2", "grounding-dino"])
def test_boxes_are_the_processors_own_in_original_pixels(
    kind: str, request: pytest.FixtureRequest, predictor: SamPredictor, image: np.ndarray
) -> None:
    folder = request.getfixturevalue("owlv2_folder" if kind == "owlv2" else "grounding_dino_folder")
    # Random weights score every box alike: a low threshold keeps many, NMS off keeps them all.
    seg = segmenter(folder, predictor, score_threshold=0.1, iou_threshold=None, max_det=1000)
    assert seg.kind == kind
    boxes, scores, labels = seg.detect(image, PHRASES)
    expected = processor_boxes(kind, folder, image, PHRASES, 0.1)
    assert len(boxes) == len(expected["boxes"]) > 0
    h, w = image.shape[:2]
    want = np.array([clip_box(b, (h, w)) for b in expected["boxes"].tolist()], np.float32)
    if kind == "owlv2":
        want_labels = expected["labels"].numpy()
    else:
        want_labels = grounding_phrase_of_each_box(expected, len(PHRASES), 0.1)
    # Same set of (box, score, phrase), regrouped by phrase then score.
    got = sorted(zip(labels.tolist(), (-scores).tolist(), boxes.tolist(), strict=True))
    ref = sorted(
        zip(
            want_labels.tolist(), (-expected["scores"].numpy()).tolist(), want.tolist(), strict=True
        )
    )
    for (gl, gs, gb), (rl, rs, rb) in zip(got, ref, strict=True):
        assert gl == rl and gs == pytest.approx(rs, abs=1e-6)
        assert np.allclose(gb, rb, atol=1e-4)
    assert (boxes[:, [0, 2]] <= w).all() and (boxes[:, [1, 3]] <= h).all() and (boxes >= 0).all()


def grounding_phrase_of_each_box(result: dict[str, Any], n: int, threshold: float) -> np.ndarray:
    """Independently of the code under test: walk the token ids, a '.' (id 1012) closes a
    phrase; a box belongs to the phrase holding its highest-scoring token."""
    ids = result["input_ids"].tolist()
    probs = result["logits"].sigmoid()
    kept = probs[probs.max(-1).values > threshold]
    owner, phrase = [], 0
    for token in ids:
        if token in (101, 102):
            owner.append(-1)
        elif token == 1012:
            owner.append(-1)
            phrase += 1
        else:
            owner.append(phrase)
    best = []
    for row in kept:
        per_phrase = [max(float(row[t]) for t, o in enumerate(owner) if o == i) for i in range(n)]
        best.append(int(np.argmax(per_phrase)))
    return np.array(best)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["owlv2", "grounding-dino"])
def test_sam_masks_come_from_those_boxes_in_the_image_frame(
    kind: str, request: pytest.FixtureRequest, predictor: SamPredictor, image: np.ndarray
) -> None:
    folder = request.getfixturevalue("owlv2_folder" if kind == "owlv2" else "grounding_dino_folder")
    # Three boxes keep the SAM decoder call short on CPU.
    seg = segmenter(folder, predictor, score_threshold=0.1, max_det=3)
    instances = seg.segment(image, PHRASES)
    assert 0 < len(instances) <= 3
    h, w = image.shape[:2]
    direct = SamPredictor(predictor.model)
    direct.set_image(image)
    for inst in instances:
        assert inst.mask.shape == (h, w) and inst.mask.dtype == bool
        single, _, _ = direct.predict(box=np.array(inst.box_xyxy), multimask_output=False)
        # Batched vs single decoder call: the odd pixel on the threshold may differ, no more.
        assert np.mean(single[0] != inst.mask) < 1e-3
    # A box is in (x, y) pixels of this 130 x 70 image: the same box read as (y, x) would
    # prompt another region and give another mask.
    swapped = np.array(instances[0].box_xyxy)[[1, 0, 3, 2]]
    other, _, _ = direct.predict(box=swapped, multimask_output=False)
    assert (other[0] != instances[0].mask).any()


def test_detector_input_errors_are_clear(
    owlv2_folder: Path, grounding_dino_folder: Path, predictor: SamPredictor, image: np.ndarray
) -> None:
    owl = segmenter(owlv2_folder, predictor)
    with pytest.raises(TextPromptError, match=r"phrase 0 .* tokens; this model reads at most 16"):
        owl.segment(image, ["y" * 30])
    with pytest.raises(TextPromptError, match="example boxes are a SAM 3 prompt"):
        owl.segment(image, ["cup"], exemplars=[[]])
    dino = segmenter(grounding_dino_folder, predictor)
    with pytest.raises(TextPromptError, match="contains '.'"):
        dino.segment(image, ["cup. dog"])
    # All phrases share one text of max_text_len (64 in the tiny config) tokens.
    with pytest.raises(TextPromptError, match="this model reads at most 64"):
        dino.segment(image, [f"cup {i}" for i in range(30)])
    with pytest.raises(ValueError, match="pass sam_predictor"):
        load_text_model(owlv2_folder)
