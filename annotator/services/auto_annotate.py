"""Auto-annotation: box prompts (inline, or from a configured detector) -> SAM masks ->
proposals (kept at once above the job's `keep_above`)."""

from __future__ import annotations

from typing import Any

import numpy as np
from django.conf import settings
from django.db.models import QuerySet

from annotator.images import read_rgb
from annotator.models import Embedding, Image, Job, Proposal
from annotator.services.everything import mask_rle
from annotator.services.progress import Progress, job_skip_if_held
from annotator.services.proposals import ProposalIn, proposals_offer
from annotator.services.sam_models import sam_model_load


def auto_annotate_run(*, job: Job, images: QuerySet[Image], progress: Progress) -> None:
    """Box prompts -> SAM masks -> proposals (the box's class label suggested), for the job's
    images. Boxes come inline or from a configured detector (see
    job_params.check_auto_annotate_params); all boxes of an image go through the decoder in one
    batched call. A ready stored embedding is used
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
            device=settings.SAM_DEVICE,
            **detector_options(params),
        )
    labels = {label.pk: label for label in job.project.labels.all()}
    class_labels = {int(k): v for k, v in params.get("class_labels", {}).items()}
    todo = list(images)
    progress(done=0, total=len(todo))
    for done, image in enumerate(todo, start=1):
        if job_skip_if_held(job=job, image=image):
            progress(done=done, total=len(todo))
            continue
        with image.file.open("rb") as f:
            rgb = read_rgb(f.read())
        if detector is not None:
            found = detector.detect(rgb, name=image.original_name)
            prompts = [
                (list(d.box_xyxy), class_labels.get(d.class_id, params.get("label")), d.score)
                for d in found
            ]
        else:
            prompts = inline_prompts(params, image.pk, class_labels)
        prompts = [p for p in prompts if p[1] in labels]
        if prompts:
            _set_image(segmenter, predictor, image, rgb)
            masks = segmenter.segment_boxes(
                predictor, np.array([p[0] for p in prompts], np.float32)
            )
            items = [
                ProposalIn(
                    rle=mask_rle(mask),
                    score=None if score is None else float(score),
                    label=labels[label_id],
                    prompts={"box": [float(v) for v in box]},
                )
                for (box, label_id, score), mask in zip(prompts, masks, strict=True)
            ]
            proposals_offer(job=job, image=image, items=items, source=Proposal.Source.AUTO_ANNOTATE)
        progress(done=done, total=len(todo))


def detector_options(params: dict[str, Any]) -> dict[str, Any]:
    """The job's detector filters (checked by job_params) as build_detector takes them; the
    detectors' own defaults for the rest, Ultralytics' (conf 0.25, iou 0.45, 640, 300)."""
    options: dict[str, Any] = {"conf": float(params.get("conf", 0.25))}
    if params.get("iou") is not None:
        options["iou"] = float(params["iou"])
    for key in ("imgsz", "max_det"):
        if params.get(key) is not None:
            options[key] = int(params[key])
    if params.get("classes") is not None:
        options["classes"] = [int(c) for c in params["classes"]]
    return options


def inline_prompts(
    params: dict[str, Any], image_id: int, class_labels: dict[int, int]
) -> list[tuple[Any, Any, float | None]]:
    """An image's inline boxes with their label: the box's class id (`box_classes`, kept from
    a YOLO boxes import) through `class_labels`, else `label`; `classes` keeps only those ids."""
    boxes = params["boxes"].get(str(image_id), [])
    classes = params.get("box_classes", {}).get(str(image_id), [None] * len(boxes))
    wanted = None if params.get("classes") is None else set(params["classes"])
    return [
        (
            box,
            class_labels.get(cls, params.get("label")) if cls is not None else params.get("label"),
            None,
        )
        for box, cls in zip(boxes, classes, strict=True)
        if wanted is None or cls in wanted
    ]


def _set_image(segmenter: Any, predictor: Any, image: Image, rgb: Any) -> None:
    row = Embedding.objects.filter(
        image=image, sam_model_id=image.project.sam_model_id, status=Embedding.Status.READY
    ).first()
    if row is None:
        predictor.set_image(rgb)
        return
    with row.file.open("rb") as f:
        segmenter.set_wire(predictor, f.read(), (image.height, image.width))
