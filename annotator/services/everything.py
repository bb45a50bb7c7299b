"""Everything mode: SAM's automatic mask generator over a job's images."""

from __future__ import annotations

import logging
from typing import Any

from django.db.models import QuerySet

from annotator.images import read_rgb
from annotator.models import Image, Job, Label
from annotator.services.annotations import annotation_create
from annotator.services.errors import ServiceError
from annotator.services.progress import Progress
from annotator.services.sam_models import sam_model_load

log = logging.getLogger(__name__)

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


def everything_run(*, job: Job, images: QuerySet[Image], progress: Progress) -> None:
    """Every mask of the automatic generator becomes an annotation (source `auto`, score =
    predicted IoU) with the job's label."""
    # The project's model family (SAM 1 or SAM 2) gives its own generator, with the same
    # parameters and records (annotator.segmenters); torch: `gpu` queue workers only.
    segmenter, _ = sam_model_load(sam_model=job.project.sam_model)
    options = {**EVERYTHING_DEFAULTS}
    options.update({k: v for k, v in job.params.items() if k in EVERYTHING_PARAMS})
    generator = segmenter.generator(**options)
    label = Label.objects.get(project=job.project, pk=job.params["label"])
    todo = list(images)
    progress(done=0, total=len(todo))
    for done, image in enumerate(todo, start=1):
        with image.file.open("rb") as f:
            records = generator.generate(read_rgb(f.read()))
        for record in records:
            try:
                annotation_create(
                    image=image,
                    label=label,
                    created_by=job.created_by,
                    rle=mask_rle(record["segmentation"]),
                    source="auto",
                    score=float(record["predicted_iou"]),
                    prompts={"mode": "everything", "point_coords": record["point_coords"]},
                )
            except ServiceError as exc:  # an empty mask, a locked image: skip it
                log.info("everything mode skipped a mask on image %s: %s", image.pk, exc)
        progress(done=done, total=len(todo))


def mask_rle(mask: Any) -> dict[str, Any]:
    # OpenCV and pycocotools: not loaded by a web process that imports this module.
    from annotator.geometry import mask_to_rle

    return mask_to_rle(mask)
