"""Text-prompt jobs (services.text_run) on tiny random SAM 3 and OWLv2 and the pack's small
SAM: the proposals a job stores are the masks the model package gives for the same image and
phrases, the detector's boxes reach SAM in the image's frame, and a missing model fails the job
in words."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image as PILImage

from annotator import services
from annotator.geometry import rle_to_mask
from annotator.images import read_rgb
from annotator.models import Job, Proposal
from annotator.sam import SamPredictor
from annotator.text import load_text_model
from tests import factories

PHRASES = ["cup", "red mug"]


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def project(db: None, media: None, reference_dir: Path) -> Any:
    # A label named like the second phrase: its proposals suggest it.
    return factories.project(
        sam_checkpoint=str(reference_dir / "sam_vit_small.pth"),
        labels=[("Red mug", "#ff0000"), ("dog", "#00ff00")],
    )


@pytest.fixture
def stored(project: Any, image: np.ndarray) -> tuple[Any, np.ndarray]:
    """The crop uploaded, and the RGB the worker reads back from storage."""
    out = io.BytesIO()
    PILImage.fromarray(image).save(out, format="PNG")
    row = factories.image(project, data=out.getvalue(), name="crop.png")
    with row.file.open("rb") as f:
        return row, read_rgb(f.read())


def run(project: Any, **params: Any) -> Job:
    owner = project.memberships.get(role="owner").user
    job = services.job_create(project=project, kind="text", created_by=owner, params=params)
    return services.job_run(job=job)


def proposals_by_phrase(job: Job) -> dict[str, list[Proposal]]:
    out: dict[str, list[Proposal]] = {}
    for row in Proposal.objects.filter(job=job).order_by("id"):
        out.setdefault(row.phrase, []).append(row)
    return out


@pytest.mark.slow
def test_a_sam3_job_stores_the_services_masks_as_text_proposals(
    project: Any, stored: tuple[Any, np.ndarray], sam3_folder: Path, settings: Any
) -> None:
    row, rgb = stored
    settings.SAM3_MODEL = str(sam3_folder)
    job = run(project, phrases=PHRASES, engine="sam3", score_threshold=0.25)
    assert job.status == Job.Status.DONE, job.error
    expected = load_text_model(sam3_folder, setting="SAM3_MODEL", score_threshold=0.25)
    instances = [i for i in expected.segment(rgb, PHRASES) if i.mask.any()]
    assert instances, "the threshold should keep some instances"
    found = proposals_by_phrase(job)
    assert job.summary == {
        "engine": "sam3",
        "found": {p: len(found.get(p, [])) for p in PHRASES},
    }
    assert sum(job.summary["found"].values()) == len(instances)
    mug = project.labels.get(name="Red mug")
    for index, phrase in enumerate(PHRASES):
        want = [i for i in instances if i.phrase_index == index]
        got = found.get(phrase, [])
        assert len(got) == len(want)
        for proposal, inst in zip(got, want, strict=True):
            assert proposal.source == "text" and proposal.status == "pending"
            assert proposal.image_id == row.pk and proposal.job_id == job.pk
            # The label named like the phrase (ignoring case) is suggested; "cup" has none.
            assert proposal.label_id == (mug.pk if phrase == "red mug" else None)
            assert proposal.score == pytest.approx(inst.score)
            assert proposal.prompts["box"] == pytest.approx(list(inst.box_xyxy))
            assert np.array_equal(rle_to_mask(proposal.rle), inst.mask)


@pytest.mark.slow
def test_a_detector_job_prompts_sam_with_boxes_in_the_images_frame(
    project: Any, stored: tuple[Any, np.ndarray], owlv2_folder: Path, settings: Any,
    small_sam: Any,
) -> None:  # fmt: skip
    row, rgb = stored
    settings.TEXT_DETECTOR = str(owlv2_folder)
    job = run(project, phrases=PHRASES, engine="detector", score_threshold=0.1)
    assert job.status == Job.Status.DONE, job.error
    proposals = list(Proposal.objects.filter(job=job).order_by("id"))
    assert proposals and all(p.prompts["engine"] == "detector" for p in proposals)
    # The boxes are the detector's own, in the image's pixels...
    direct = SamPredictor(small_sam)
    detector = load_text_model(owlv2_folder, sam_predictor=direct, score_threshold=0.1)
    boxes, scores, _ = detector.detect(rgb, PHRASES)
    stored_boxes = sorted(tuple(p.prompts["box"]) for p in proposals)
    assert len(stored_boxes) == len(boxes)
    assert np.allclose(stored_boxes, sorted(map(tuple, boxes.tolist())), atol=1e-4)
    # ...and each mask is what SAM gives for that box on this image (the odd pixel on the
    # threshold may differ between a batched and a single decoder call).
    h, w = rgb.shape[:2]
    direct.set_image(rgb)
    for proposal in proposals[:3]:
        mask = rle_to_mask(proposal.rle)
        assert mask.shape == (h, w)
        single, _, _ = direct.predict(box=np.array(proposal.prompts["box"]), multimask_output=False)
        assert np.mean(single[0] != mask) < 1e-3
        # Read as (y, x), the same box prompts another region.
        swapped = np.array(proposal.prompts["box"])[[1, 0, 3, 2]]
        other, _, _ = direct.predict(box=swapped, multimask_output=False)
        assert (other[0] != mask).any()


@pytest.mark.slow
def test_annotations_mode_keeps_instances_above_the_score_with_the_phrases_label(
    project: Any, stored: tuple[Any, np.ndarray], sam3_folder: Path, settings: Any
) -> None:
    row, rgb = stored
    settings.SAM3_MODEL = str(sam3_folder)
    dog = project.labels.get(name="dog")
    job = run(
        project, phrases=PHRASES, engine="sam3", score_threshold=0.2, mode="annotations",
        min_score=0.25, label=dog.pk,
    )  # fmt: skip
    assert job.status == Job.Status.DONE, job.error
    segmenter = load_text_model(sam3_folder, setting="SAM3_MODEL", score_threshold=0.2)
    kept = [i for i in segmenter.segment(rgb, PHRASES) if i.score >= 0.25 and i.mask.any()]
    made = list(row.annotations.order_by("id"))
    assert len(made) == len(kept) > 0 and not Proposal.objects.filter(job=job).exists()
    mug = project.labels.get(name="Red mug")
    for annotation, inst in zip(made, kept, strict=True):
        assert annotation.source == "auto" and annotation.score == pytest.approx(inst.score)
        # "red mug" has its label; "cup" gets the one given.
        assert annotation.label_id == (mug.pk if inst.phrase_index == 1 else dog.pk)


@pytest.mark.django_db
def test_a_missing_model_fails_the_job_with_what_to_download(
    project: Any, stored: tuple[Any, np.ndarray], settings: Any, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    job = run(project, phrases=["cup"], engine="sam3")
    assert job.status == Job.Status.FAILED
    assert job.error.startswith("Unavailable: Text prompts (sam3) cannot run on this worker")
    assert "hf download facebook/sam3" in job.error and "Traceback" not in job.error
    settings.TEXT_DETECTOR = str(tmp_path / "nowhere")
    job = run(project, phrases=["cup"], engine="detector")
    assert job.status == Job.Status.FAILED and "TEXT_DETECTOR" in job.error
    assert not Proposal.objects.exists()
