"""Everything mode: SAM's automatic mask generator over a job's images."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from annotator.images import read_rgb
from annotator.models import Image, Job, Label, Proposal
from annotator.services.progress import Progress, job_skip_if_held
from annotator.services.proposals import ProposalIn, proposals_offer
from annotator.services.quotas import KNOWN_CHECKPOINT_NAMES, SAM2_CHECKPOINT_NAMES
from annotator.services.sam_models import sam_model_load

# Everything mode defaults for a CPU worker: a 16x16 grid instead of SAM's 32x32 (4x fewer
# decoder calls).
EVERYTHING_DEFAULTS: dict[str, Any] = {"points_per_side": 16, "points_per_batch": 64}
# The options of SamAutomaticMaskGenerator a job may set, with the ranges that make sense:
# points_per_side=10**6 would ask a worker for 10**12 prompts. Checked by job_create.
EVERYTHING_BOUNDS: dict[str, tuple[type, float, float]] = {
    "points_per_side": (int, 1, 128),
    "points_per_batch": (int, 1, 1024),
    "pred_iou_thresh": (float, 0.0, 1.0),
    "stability_score_thresh": (float, 0.0, 1.0),
    "box_nms_thresh": (float, 0.0, 1.0),
    "min_mask_region_area": (int, 0, 100_000_000),
    "crop_n_layers": (int, 0, 3),
}
EVERYTHING_PARAMS = frozenset(EVERYTHING_BOUNDS)
# An annotator may run everything mode on the one image they hold; a manager's bounds would let
# them hold a shared GPU worker for minutes, so theirs are lower (and no crop layers, which
# multiply the prompts by 5, 21, 85).
EVERYTHING_BOUNDS_ANNOTATOR: dict[str, tuple[type, float, float]] = {
    **EVERYTHING_BOUNDS,
    "points_per_side": (int, 1, 32),
    "points_per_batch": (int, 1, 256),
    "crop_n_layers": (int, 0, 0),
}
# The generators' own defaults for what a job may set (annotator/sam/automatic.py and
# annotator/sam2/automatic.py; they differ in pred_iou_thresh), repeated because the web
# process never imports torch; tests/backend/test_everything_form.py keeps them equal.
GENERATOR_DEFAULTS: dict[str, dict[str, Any]] = {
    family: {
        "points_per_side": 32,
        "points_per_batch": 64,
        "pred_iou_thresh": pred_iou_thresh,
        "stability_score_thresh": 0.95,
        "box_nms_thresh": 0.7,
        "min_mask_region_area": 0,
        "crop_n_layers": 0,
    }
    for family, pred_iou_thresh in (("sam1", 0.88), ("sam2", 0.8))
}


def everything_form(*, checkpoint: str, limited: bool) -> dict[str, Any]:
    """What a dialog offers for an everything job on a project whose model is `checkpoint`:
    the values a job that leaves a parameter out runs with, and the bounds job_create checks
    (`limited`: an annotator's). A registered file's name does not tell its family, so a
    default the two families disagree on is left out for it (the worker's generator decides)."""
    if checkpoint in KNOWN_CHECKPOINT_NAMES:
        base = GENERATOR_DEFAULTS["sam2" if checkpoint in SAM2_CHECKPOINT_NAMES else "sam1"]
    else:
        sam1, sam2 = GENERATOR_DEFAULTS["sam1"], GENERATOR_DEFAULTS["sam2"]
        base = {key: value for key, value in sam1.items() if sam2[key] == value}
    bounds = EVERYTHING_BOUNDS_ANNOTATOR if limited else EVERYTHING_BOUNDS
    return {
        "defaults": {**base, **EVERYTHING_DEFAULTS},
        "bounds": {
            key: {"integer": kind is int, "min": low, "max": high}
            for key, (kind, low, high) in bounds.items()
        },
        "max_prompts": settings.JOB_MAX_EVERYTHING_PROMPTS,
    }


def everything_run(*, job: Job, images: QuerySet[Image], progress: Progress) -> None:
    """Every mask of the automatic generator becomes a proposal (score = predicted IoU, the
    job's optional `label` suggested); with `keep_above`, the surest are kept at once."""
    # The project's model family (SAM 1 or SAM 2) gives its own generator, with the same
    # parameters and records (annotator.segmenters); torch: `gpu` queue workers only.
    segmenter, _ = sam_model_load(sam_model=job.project.sam_model)
    options = {**EVERYTHING_DEFAULTS}
    options.update({k: v for k, v in job.params.items() if k in EVERYTHING_PARAMS})
    generator = segmenter.generator(**options)
    label_id = job.params.get("label")
    label = Label.objects.filter(project=job.project, pk=label_id).first() if label_id else None
    todo = list(images)
    progress(done=0, total=len(todo))
    for done, image in enumerate(todo, start=1):
        if job_skip_if_held(job=job, image=image):
            progress(done=done, total=len(todo))
            continue
        with image.file.open("rb") as f:
            records = generator.generate(read_rgb(f.read()))
        items = [
            ProposalIn(
                rle=mask_rle(record["segmentation"]),
                score=float(record["predicted_iou"]),
                label=label,
                prompts={"point_coords": record["point_coords"]},
            )
            for record in records
        ]
        proposals_offer(job=job, image=image, items=items, source=Proposal.Source.EVERYTHING)
        progress(done=done, total=len(todo))


def mask_rle(mask: Any) -> dict[str, Any]:
    # OpenCV and pycocotools: not loaded by a web process that imports this module.
    from annotator.geometry import mask_to_rle

    return mask_to_rle(mask)
