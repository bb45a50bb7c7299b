"""Auto-annotation: box prompts (inline, or from a configured detector) -> SAM masks ->
annotations."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from django.conf import settings
from django.db.models import QuerySet

from annotator.images import read_rgb
from annotator.models import Embedding, Image, Job
from annotator.services.annotations import annotation_create
from annotator.services.errors import ServiceError
from annotator.services.everything import mask_rle
from annotator.services.progress import Progress
from annotator.services.sam_models import sam_model_load

log = logging.getLogger(__name__)


def auto_annotate_run(*, job: Job, images: QuerySet[Image], progress: Progress) -> None:
    """Box prompts -> SAM masks -> annotations (source `auto`), for the job's images. Boxes come
    inline or from a configured detector (see job_params.check_auto_annotate_params); all boxes
    of an image go through the decoder in one batched call. A ready stored embedding is used
    instead of encoding the image again."""
    # The project's model family (SAM 1 or SAM 2) through one interface
    # (annotator.segmenters); torch: only a worker on the `gpu` queue runs a job of this kind.
    params = job.params
    segmenter, _ = sam_model_load(sam_model=job.project.sam_model)
    predictor = segmenter.predictor()
    detector = None
    if params.get("detector"):
        # OpenCV and the detector's runtime: loaded by the worker that needs them.
        from annotator.autoannotate.detectors import build_detector

        detector = build_detector(
            settings.AUTO_ANNOTATE_DETECTORS[params["detector"]],
            conf=float(params.get("conf", 0.25)),
            device=settings.SAM_DEVICE,
        )
    labels = {label.pk: label for label in job.project.labels.all()}
    class_labels = {int(k): v for k, v in params.get("class_labels", {}).items()}
    todo = list(images)
    progress(done=0, total=len(todo))
    for done, image in enumerate(todo, start=1):
        with image.file.open("rb") as f:
            rgb = read_rgb(f.read())
        if detector is not None:
            found = detector.detect(rgb, name=image.original_name)
            prompts = [
                (list(d.box_xyxy), class_labels.get(d.class_id, params.get("label")), d.score)
                for d in found
            ]
        else:
            boxes = params["boxes"].get(str(image.pk), [])
            prompts = [(box, params["label"], None) for box in boxes]
        prompts = [p for p in prompts if p[1] in labels]
        if prompts:
            _set_image(segmenter, predictor, image, rgb)
            masks = segmenter.segment_boxes(
                predictor, np.array([p[0] for p in prompts], np.float32)
            )
            for (box, label_id, score), mask in zip(prompts, masks, strict=True):
                try:
                    annotation_create(
                        image=image,
                        label=labels[label_id],
                        created_by=job.created_by,
                        rle=mask_rle(mask),
                        source="auto",
                        score=score,
                        prompts={"mode": "auto_annotate", "box": [float(v) for v in box]},
                    )
                except ServiceError as exc:  # an empty mask, a locked image: skip it
                    log.info("auto-annotation skipped a box on image %s: %s", image.pk, exc)
        progress(done=done, total=len(todo))


def _set_image(segmenter: Any, predictor: Any, image: Image, rgb: Any) -> None:
    row = Embedding.objects.filter(
        image=image, sam_model_id=image.project.sam_model_id, status=Embedding.Status.READY
    ).first()
    if row is None:
        predictor.set_image(rgb)
        return
    with row.file.open("rb") as f:
        segmenter.set_wire(predictor, f.read(), (image.height, image.width))
