"""Exports: the project's annotations as a COCO, YOLO-seg or mask file (annotator/formats)."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from django.core.files.base import ContentFile
from django.db.models import QuerySet

from annotator import selectors
from annotator.images import MAX_NAME_BYTES, name_within
from annotator.models import Image, Job, Label, Project
from annotator.services.errors import Invalid
from annotator.services.progress import Progress

if TYPE_CHECKING:
    from annotator.formats import Dataset

# Export format -> the name of the file the job produces. The names are the import's too.
EXPORT_WRITERS = {"coco": "annotations_coco.json", "yolo_seg": "yolo_seg.zip", "masks": "masks.zip"}
# COCO with its images is no longer one JSON file: a zip the COCO import also reads.
COCO_WITH_IMAGES = "coco.zip"


def dataset_export(*, project: Project, params: dict[str, Any]) -> tuple[str, bytes]:
    """The result file name and bytes of an export, written by annotator/formats/<format>.py.

    The export job and the `export_annotations` command both come here, so they write the same
    file. `params` as for an export Job: format, mask_mode, status, image_ids, rle (COCO),
    include_images."""
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
    rows = list(images.prefetch_related("annotations__label", "tags"))
    dataset = _project_dataset(project=project, images=rows, progress=progress)
    stored = _StoredImages(rows) if params.get("include_images") else None
    # The writers (and OpenCV, pycocotools under them) load with the first export.
    if fmt == "coco":
        from annotator.formats import coco

        document = json.dumps(coco.to_coco(dataset, use_rle=bool(params.get("rle", False))))
        if stored is None:
            return EXPORT_WRITERS[fmt], document.encode()
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(EXPORT_WRITERS[fmt], document)
        _add_images(out, stored)
        return COCO_WITH_IMAGES, out.getvalue()
    out = io.BytesIO()
    if fmt == "yolo_seg":
        from annotator.formats import yolo

        # The YOLO writer places each image beside its labels (images/<split>/) itself.
        yolo.export_yolo_seg(dataset, out, images=stored)
    else:
        from annotator.formats import masks

        masks.export_masks(dataset, out, mode=params.get("mask_mode", "instance"))
        if stored is not None:
            _add_images(out, stored)
    return EXPORT_WRITERS[fmt], out.getvalue()


# An export's entries are `<id>-<original name>` and, in YOLO and mask exports, the same stem
# with `.txt` or `.png`: kept under what a file system allows (images.MAX_NAME_BYTES) with room
# for the swapped suffix, so the archive unpacks anywhere and imports back.
EXPORT_NAME_BYTES = MAX_NAME_BYTES - 15


def export_name(image: Image) -> str:
    prefix = f"{image.pk:06d}-"
    return prefix + name_within(image.original_name, max_bytes=EXPORT_NAME_BYTES - len(prefix))


class _StoredImages(Mapping[str, bytes]):
    """Export file name -> the stored image's bytes, read when asked, so an export holds one
    image in memory at a time rather than the whole dataset."""

    def __init__(self, images: list[Image]) -> None:
        self._images = {export_name(image): image for image in images}

    def __getitem__(self, name: str) -> bytes:
        with self._images[name].file.open("rb") as f:
            return f.read()

    def __iter__(self) -> Iterator[str]:
        return iter(self._images)

    def __len__(self) -> int:
        return len(self._images)


def _add_images(out: io.BytesIO, stored: _StoredImages) -> None:
    """Append images/<file name> for every image to the zip in `out` (names as the annotation
    file gives them)."""
    with zipfile.ZipFile(out, "a", compression=zipfile.ZIP_STORED) as archive:
        for name in stored:
            archive.writestr(f"images/{name}", stored[name])


def _project_dataset(
    *, project: Project, images: list[Image], progress: Progress | None = None
) -> Dataset:
    """The project's rows as the in-memory dataset every writer in annotator/formats takes."""
    # annotator.formats brings OpenCV and pycocotools (annotator.geometry): loaded by the
    # process that exports, not by every web process at start.
    from annotator.formats import Dataset, DatasetAnnotation, DatasetImage

    # Object labels are the classes (COCO categories, YOLO ids, mask values); tag labels name
    # whole images and go only where a format can say so (COCO's images[].tags).
    labels = project.labels.order_by("order", "id")
    dataset = Dataset(
        labels=[lb.name for lb in labels if lb.kind == Label.Kind.OBJECT],
        tag_labels=[lb.name for lb in labels if lb.kind == Label.Kind.TAG],
        attributes=[
            {"name": a.name, "type": a.type, "default": a.default, "choices": list(a.choices),
             "label": a.label.name if a.label else None}
            for a in project.attributes.select_related("label")
        ],
    )  # fmt: skip
    for done, image in enumerate(images, start=1):
        item = DatasetImage(
            file_name=export_name(image),
            width=image.width,
            height=image.height,
            tags=sorted(tag.name for tag in image.tags.all()),
        )
        for annotation in image.annotations.all():
            item.annotations.append(
                DatasetAnnotation(
                    label=annotation.label.name,
                    rle=annotation.rle,
                    polygons=annotation.polygons,
                    score=annotation.score,
                    bbox=annotation.bbox,
                    kind=annotation.kind,
                    attributes=dict(annotation.attributes),
                )
            )
        dataset.images.append(item)
        if progress is not None and (done % 50 == 0 or done == len(images)):
            progress(done=done, total=len(images))
    return dataset
