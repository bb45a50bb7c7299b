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
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from annotator.images import name_within
from annotator.models import Annotation, Image, Label, Project
from annotator.services.annotations import annotation_create
from annotator.services.errors import Conflict, Invalid, User
from annotator.services.exports import EXPORT_NAME_BYTES
from annotator.services.projects import label_create, labels_check_room
from annotator.services.review import image_write_refusal
from annotator.services.tags import image_tag_set

IMPORT_FORMATS = ("coco", "yolo_seg", "masks", "yolo_boxes")
# New labels created by an import get this colour; a manager can recolour them afterwards.
DEFAULT_LABEL_COLOR = "#ff0000"
_EXPORT_PREFIX = re.compile(r"^\d{6}-(.+)$")


@dataclass(frozen=True)
class ImportResult:
    images: int
    annotations: int
    labels_created: list[str] = field(default_factory=list)
    # Images left as they are, each {"image", "name", "reason"} (see held_images).
    skipped: list[dict[str, Any]] = field(default_factory=list)


def _nfc(name: str) -> str:
    # A name typed on macOS arrives decomposed (NFD), the same name from Linux or Windows
    # composed (NFC): one name, so both sides are compared in NFC (uploads store NFC).
    return unicodedata.normalize("NFC", name)


class ImageIndex:
    """The project's images by original name and by stem (the first upload wins a tie), and by
    the shortened name an export gives a long one (services/exports.export_name)."""

    def __init__(self, project: Project, extra: Sequence[Image] = ()) -> None:
        # `extra`: the images of the import's own archive (unsaved ones in a dry run).
        self.by_name: dict[str, Image] = {}
        for image in [*project.images.order_by("id"), *extra]:
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

    def __init__(self, index: ImageIndex) -> None:
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


def dataset_read(*, project: Project, fmt: str, data: bytes, extra: Sequence[Image] = ()) -> Any:
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
            sizes = _SizesByStem(ImageIndex(project, extra))
            return yolo.import_yolo_seg(data, image_sizes=sizes, limits=_zip_limits())
        if fmt == "masks":
            return masks.import_masks(data, _zip_limits())
    except (FormatError, ValueError) as exc:  # the readers' FormatError is a ValueError
        raise Invalid(f"Malformed {fmt} file: {exc}") from None
    raise Invalid(f"Unknown import format {fmt!r}; one of {', '.join(IMPORT_FORMATS)}.")


def held_images(images: Sequence[Image], *, by: User) -> dict[Image, dict[str, Any]]:
    """The images an import must leave alone, by the rules of any edit (review.py): accepted
    (final until reopened), submitted (the reviewer's, unless `by` reviews), or locked by
    someone else; each with {"image", "name", "reason"}. Images not stored yet (an archive's,
    in a dry run) hold nothing."""
    held = {}
    for image in dict.fromkeys(image for image in images if image.pk is not None):
        refusal = image_write_refusal(image=image, user=by)
        if refusal is not None:
            held[image] = {"image": image.pk, "name": image.original_name, "reason": str(refusal)}
    return held


def refuse_if_all_held(skipped: list[dict[str, Any]], *, left: Any) -> None:
    """Every image the file names is held (held_images) and nothing is left to import: a 409
    that stored nothing, with the reasons. An image taken between the check and the write still
    refuses that write, which fails the whole import."""
    if skipped and not left:
        reasons = "; ".join(f"{row['name']}: {row['reason']}" for row in skipped)
        raise Conflict(f"Nothing was imported: every image is held. {reasons}", skipped=skipped)


def annotations_store(
    *,
    matched: Sequence[tuple[Any, Any]],
    labels: dict[str, Label],
    by: User,
    tags: dict[str, Label] | None = None,
) -> int:
    """Store each (dataset image, project image) pair's annotations and image tags; returns
    how many annotations."""
    count = 0
    for item, image in matched:
        for ann in item.annotations:
            _annotation_store(image=image, label=labels[ann.label], ann=ann, by=by)
            count += 1
        for name in getattr(item, "tags", []):
            image_tag_set(image=image, label=(tags or {})[name], user=by, on=True)
    return count


def labels_for_import(project: Project, dataset: Any) -> tuple[dict[str, Label], list[str]]:
    labels = {label.name: label for label in project.labels.filter(kind=Label.Kind.OBJECT)}
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

    extra = {"attributes": getattr(ann, "attributes", None) or None}
    if not ann.has_geometry:
        # A bbox alone (a COCO detection, or our export of a box): a box annotation.
        return annotation_create(
            image=image, label=label, created_by=by, kind="box", bbox=ann.bbox,
            source="auto" if ann.score is not None else "manual", score=ann.score, **extra,
        )  # fmt: skip
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
        **extra,
    )


@dataclass
class BoxesFound:
    """A YOLO boxes archive read against the project: boxes and their class ids per image id
    (str keys, as job params), label files of unknown images, and the class names it gives."""

    boxes: dict[str, list[list[float]]] = field(default_factory=dict)
    classes: dict[str, list[int]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)


def yolo_boxes_read(*, project: Project, data: bytes, extra: Sequence[Image] = ()) -> BoxesFound:
    from annotator.formats import FormatError
    from annotator.formats.safe_zip import extracted
    from annotator.formats.yolo import read_yolo_boxes

    index = ImageIndex(project, extra)
    found = BoxesFound()
    try:
        with extracted(data, _zip_limits()) as root:
            found.names = _class_names(root)
            for path in sorted(root.rglob("*.txt")):
                if path.name.lower() in ("classes.txt", "readme.txt"):
                    continue
                image = index.find(path.stem)
                if image is None:
                    found.missing.append(path.name)
                    continue
                try:
                    rows = read_yolo_boxes(Path(path), image.width, image.height)
                except FormatError as exc:
                    raise FormatError(f"{path.name}: {exc}") from None
                key = str(image.pk) if image.pk else image.original_name
                found.boxes.setdefault(key, []).extend(box for _, box, _ in rows)
                found.classes.setdefault(key, []).extend(cls for cls, _, _ in rows)
    except FormatError as exc:
        raise Invalid(f"Malformed yolo_boxes file: {exc}") from None
    return found


def _class_names(root: Path) -> list[str]:
    """Class names from classes.txt (one a line, as labelImg writes) or a data.yaml."""
    from annotator.formats import FormatError
    from annotator.formats.yolo import read_class_names

    listed = sorted(root.rglob("classes.txt"))
    if listed:
        names = [n.strip() for n in listed[0].read_text(errors="replace").splitlines() if n.strip()]
        if len(set(names)) != len(names):
            raise FormatError("classes.txt has duplicate names")
        return names
    if not any(root.rglob("*.yaml")) and not any(root.rglob("*.yml")):
        return []
    return read_class_names(root)
