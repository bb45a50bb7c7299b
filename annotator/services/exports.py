"""Exports: the project's annotations as a COCO, YOLO-seg or mask file (annotator/formats)."""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any

from django.core.files.base import ContentFile
from django.db.models import QuerySet

from annotator import selectors
from annotator.models import Image, Job, Project
from annotator.services.errors import Invalid
from annotator.services.progress import Progress

if TYPE_CHECKING:
    from annotator.formats import Dataset

# Export format -> the name of the file the job produces. The names are the import's too.
EXPORT_WRITERS = {"coco": "annotations_coco.json", "yolo_seg": "yolo_seg.zip", "masks": "masks.zip"}


def dataset_export(*, project: Project, params: dict[str, Any]) -> tuple[str, bytes]:
    """The result file name and bytes of an export, written by annotator/formats/<format>.py.

    The export job and the `export_annotations` command both come here, so they write the same
    file. `params` as for an export Job: format, mask_mode, status, image_ids, rle (COCO)."""
    images = selectors.images_for(project=project, params=params)
    return dataset_write(project=project, params=params, images=images)


def export_run(*, job: Job, images: QuerySet[Image], progress: Progress) -> None:
    """The export job: the file goes into `job.result` (saved with the job)."""
    name, content = dataset_write(
        project=job.project, params=job.params, images=images, progress=progress
    )
    job.result.save(name, ContentFile(content), save=False)


def dataset_write(
    *,
    project: Project,
    params: dict[str, Any],
    images: QuerySet[Image],
    progress: Progress | None = None,
) -> tuple[str, bytes]:
    fmt = params.get("format", "coco")
    if fmt not in EXPORT_WRITERS:
        raise Invalid(f"export format {fmt!r} is not available")
    images = images.prefetch_related("annotations__label")
    dataset = _project_dataset(project=project, images=list(images), progress=progress)
    # The writers (and OpenCV, pycocotools under them) load with the first export.
    if fmt == "coco":
        from annotator.formats import coco

        document = coco.to_coco(dataset, use_rle=bool(params.get("rle", False)))
        return EXPORT_WRITERS[fmt], json.dumps(document).encode()
    out = io.BytesIO()
    if fmt == "yolo_seg":
        from annotator.formats import yolo

        yolo.export_yolo_seg(dataset, out)
    else:
        from annotator.formats import masks

        masks.export_masks(dataset, out, mode=params.get("mask_mode", "instance"))
    return EXPORT_WRITERS[fmt], out.getvalue()


def _project_dataset(
    *, project: Project, images: list[Image], progress: Progress | None = None
) -> Dataset:
    """The project's rows as the in-memory dataset every writer in annotator/formats takes."""
    # annotator.formats brings OpenCV and pycocotools (annotator.geometry): loaded by the
    # process that exports, not by every web process at start.
    from annotator.formats import Dataset, DatasetAnnotation, DatasetImage

    labels = list(project.labels.order_by("id").values_list("name", flat=True))
    dataset = Dataset(labels=labels)
    for done, image in enumerate(images, start=1):
        # The id prefix keeps names unique: two uploads may share an original name.
        item = DatasetImage(
            file_name=f"{image.pk:06d}-{image.original_name}",
            width=image.width,
            height=image.height,
        )
        for annotation in image.annotations.all():
            item.annotations.append(
                DatasetAnnotation(
                    label=annotation.label.name,
                    rle=annotation.rle,
                    polygons=annotation.polygons,
                    score=annotation.score,
                    bbox=annotation.bbox,
                )
            )
        dataset.images.append(item)
        if progress is not None and (done % 50 == 0 or done == len(images)):
            progress(done=done, total=len(images))
    return dataset
