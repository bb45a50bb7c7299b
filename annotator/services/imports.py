"""Annotation imports (COCO, YOLO-seg, PNG masks, YOLO boxes as SAM prompts).

Keyword-only, `<entity>_<action>`, a ServiceError subclass for anything the caller got wrong,
like every service.

Dataset images are matched to the project's images by the stored original file name
(`Image.original_name`), compared on the base name, with or without its extension (YOLO label
files carry only the stem). Our own exports prefix names with the image id (`000012-cat.png`,
see services/exports.py); that prefix is dropped when the full name matches nothing, so an
export imports into a fresh project holding the same files.
"""

from __future__ import annotations

import posixpath
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

from annotator.images import name_within
from annotator.models import Annotation, Image, Job, Label, Project
from annotator.services.annotations import annotation_create
from annotator.services.errors import Invalid, User
from annotator.services.exports import EXPORT_NAME_BYTES
from annotator.services.jobs import job_create
from annotator.services.projects import label_create, labels_check_room

IMPORT_FORMATS = ("coco", "yolo_seg", "masks", "yolo_boxes")
# New labels created by an import get this colour; a manager can recolour them afterwards.
DEFAULT_LABEL_COLOR = "#ff0000"
_EXPORT_PREFIX = re.compile(r"^\d{6}-(.+)$")


@dataclass(frozen=True)
class ImportResult:
    images: int
    annotations: int
    labels_created: list[str] = field(default_factory=list)


def _nfc(name: str) -> str:
    # A name typed on macOS arrives decomposed (NFD), the same name from Linux or Windows
    # composed (NFC): one name, so both sides are compared in NFC (uploads store NFC).
    return unicodedata.normalize("NFC", name)


class _ImageIndex:
    """The project's images by original name and by stem (the first upload wins a tie), and by
    the shortened name an export gives a long one (services/exports.export_name)."""

    def __init__(self, project: Project) -> None:
        self.by_name: dict[str, Image] = {}
        for image in project.images.order_by("id"):
            name = _nfc(posixpath.basename(image.original_name))
            short = name_within(name, max_bytes=EXPORT_NAME_BYTES - len("000000-"))
            for key in (name, short):
                self.by_name.setdefault(key, image)
                self.by_name.setdefault(posixpath.splitext(key)[0], image)

    def find(self, file_name: str) -> Image | None:
        name = _nfc(posixpath.basename(file_name.replace("\\", "/")))
        candidates = [name]
        if match := _EXPORT_PREFIX.match(name):
            candidates.append(match.group(1))
        for candidate in candidates:
            for key in (candidate, posixpath.splitext(candidate)[0]):
                if key in self.by_name:
                    return self.by_name[key]
        return None


class _SizesByStem(Mapping[str, tuple[int, int]]):
    """`image_sizes` for the YOLO-seg reader: exports carry label files but no images."""

    def __init__(self, index: _ImageIndex) -> None:
        self.index = index

    def __getitem__(self, stem: str) -> tuple[int, int]:
        image = self.index.find(stem)
        if image is None:
            raise KeyError(stem)
        return image.width, image.height

    def __iter__(self) -> Iterator[str]:
        return iter(self.index.by_name)

    def __len__(self) -> int:
        return len(self.index.by_name)


def _zip_limits() -> Any:
    """An imported archive is extracted to a temp folder: held to the same expansion limit as
    an image upload (IMAGE_MAX_ZIP_BYTES), not safe_zip's 4 GiB default, so a 100:1 archive
    just under the bomb ratio cannot fill the disk."""
    from annotator.formats.safe_zip import ZipLimits

    return ZipLimits(max_total_bytes=settings.IMAGE_MAX_ZIP_BYTES)


def dataset_read(*, project: Project, fmt: str, data: bytes) -> Any:
    """Parse an uploaded COCO (JSON, or a zip holding one), YOLO-seg zip or mask zip."""
    from annotator.formats import FormatError, coco, masks, yolo
    from annotator.formats.safe_zip import extracted

    try:
        if fmt == "coco" and data[:2] == b"PK":
            with extracted(data, _zip_limits()) as root:
                found = sorted(root.rglob("*.json"))
                if len(found) != 1:
                    raise FormatError("the zip must hold exactly one COCO .json file")
                return coco.read_coco(found[0])
        if fmt == "coco":
            return coco.read_coco(data)
        if fmt == "yolo_seg":
            sizes = _SizesByStem(_ImageIndex(project))
            return yolo.import_yolo_seg(data, image_sizes=sizes, limits=_zip_limits())
        if fmt == "masks":
            return masks.import_masks(data, _zip_limits())
    except (FormatError, ValueError) as exc:  # the readers' FormatError is a ValueError
        raise Invalid(f"Malformed {fmt} file: {exc}") from None
    raise Invalid(f"Unknown import format {fmt!r}; one of {', '.join(IMPORT_FORMATS)}.")


def annotation_import(*, project: Project, dataset: Any, by: User) -> ImportResult:
    """Create the dataset's annotations on the matching images, all or nothing.

    Annotations that carry a score keep it and are marked `auto`; the others are `manual`.
    Labels unknown to the project are created (importing is a manager's decision).
    """
    index = _ImageIndex(project)
    matched = [(item, index.find(item.file_name)) for item in dataset.images if item.annotations]
    missing = sorted(item.file_name for item, image in matched if image is None)
    if missing:
        raise Invalid(f"These images are not in the project: {', '.join(missing)}.")
    with transaction.atomic():
        labels, created = _labels_for(project, dataset)
        count = 0
        for item, image in matched:
            assert image is not None
            if (item.width, item.height) != (image.width, image.height):
                raise Invalid(
                    f"{item.file_name} is {item.width}x{item.height} in the file but "
                    f"{image.width}x{image.height} in the project."
                )
            for ann in item.annotations:
                _annotation_store(image=image, label=labels[ann.label], ann=ann, by=by)
                count += 1
    return ImportResult(images=len(matched), annotations=count, labels_created=created)


def _labels_for(project: Project, dataset: Any) -> tuple[dict[str, Label], list[str]]:
    labels = {label.name: label for label in project.labels.all()}
    wanted = list(dataset.labels) + [a.label for i in dataset.images for a in i.annotations]
    # The API's limits hold for an import too (services/projects.py): the count is checked
    # once for all new names before the first insert; each name by label_create, which strips
    # it, so " cat" in a file is the project's "cat", not a second label that conflicts.
    created = list(dict.fromkeys(n.strip() for n in wanted if n.strip() not in labels))
    labels_check_room(project=project, adding=len(created))
    for name in created:
        labels[name] = label_create(project=project, name=name, color=DEFAULT_LABEL_COLOR)
    for name in wanted:
        labels.setdefault(name, labels[name.strip()])
    return labels, created


def _annotation_store(*, image: Image, label: Label, ann: Any, by: User) -> Annotation:
    from annotator import geometry

    try:
        if ann.polygons is not None and ann.mask is None and ann.rle is None:
            shape: dict[str, Any] = {"polygons": ann.polygons}
        else:
            shape = {"rle": geometry.mask_to_rle(ann.to_mask(image.height, image.width))}
    except (geometry.GeometryError, ValueError, TypeError) as exc:
        raise Invalid(f"Malformed geometry on {image.original_name}: {exc}") from None
    scored = ann.score is not None
    return annotation_create(
        image=image,
        label=label,
        created_by=by,
        source="auto" if scored else "manual",
        score=float(ann.score) if scored else None,
        **shape,
    )


def boxes_import(*, project: Project, data: bytes, by: User, label: int | None = None) -> Job:
    """YOLO detection files (one `<stem>.txt` per image, in a zip) become an auto-annotation
    job whose inline boxes prompt SAM. Every box gets `label` (default: the first label)."""
    from annotator.formats import FormatError
    from annotator.formats.safe_zip import extracted
    from annotator.formats.yolo import read_yolo_boxes

    if label is None:
        first = project.labels.order_by("order", "id").first()
        if first is None:
            raise Invalid("The project has no label to give the boxes.")
        label = first.pk
    index = _ImageIndex(project)
    boxes: dict[str, list[list[float]]] = {}
    missing = []
    try:
        with extracted(data, _zip_limits()) as root:
            for path in sorted(root.rglob("*.txt")):
                if path.name.lower() in ("classes.txt", "readme.txt"):
                    continue
                image = index.find(path.stem)
                if image is None:
                    missing.append(path.name)
                    continue
                try:
                    found = read_yolo_boxes(Path(path), image.width, image.height)
                except FormatError as exc:
                    raise FormatError(f"{path.name}: {exc}") from None
                boxes.setdefault(str(image.pk), []).extend(box for _, box, _ in found)
    except FormatError as exc:
        raise Invalid(f"Malformed yolo_boxes file: {exc}") from None
    if missing:
        raise Invalid(f"These images are not in the project: {', '.join(missing)}.")
    if not boxes:
        raise Invalid("The zip holds no YOLO box files (<image stem>.txt).")
    return job_create(
        project=project,
        kind="auto_annotate",
        created_by=by,
        params={"boxes": boxes, "label": label},
    )
