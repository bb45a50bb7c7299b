"""An import in one step: the images inside the archive (through the upload checks) and the
annotations or boxes beside them, or a dry run that says what would be created and writes
nothing.

Images in an archive: every image file of a COCO or YOLO archive, and those under an `images/`
folder of a mask archive (its other PNGs are the masks). Each goes through the upload service's
validation and normalisation; an image the project already holds (same sha256) is that image,
not a duplicate to refuse, so an archive imports again after a partial upload.
"""

from __future__ import annotations

import io
import posixpath
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction

from annotator.images import ImageRejected, is_zip_archive, normalise_image
from annotator.models import Image, Job, Label, Project
from annotator.services.embeddings import embedding_request
from annotator.services.errors import Invalid, TooLarge, User
from annotator.services.imports import (
    ImageIndex,
    ImportResult,
    annotations_store,
    dataset_read,
    held_images,
    labels_for_import,
    refuse_if_all_held,
    yolo_boxes_read,
)
from annotator.services.imports_shapes import attributes_for, tag_labels_for
from annotator.services.jobs import job_create
from annotator.services.projects import labels_check_room
from annotator.services.quotas import upload_quota_check
from annotator.services.uploads import image_store, upload_name

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif")
# Box import options passed on to the auto-annotation job (see job_params).
BOX_JOB_OPTIONS = ("classes", "max_det")


@dataclass
class ImportPlan:
    """What an import creates (or, in a dry run, would create)."""

    images_new: list[str] = field(default_factory=list)
    images_known: int = 0  # images of the archive the project already holds
    images_annotated: int = 0
    annotations: dict[str, int] = field(default_factory=dict)  # per label name
    boxes: dict[str, int] = field(default_factory=dict)  # yolo_boxes: per label name
    labels_to_create: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    # Images the review rules or someone's lock hold: left as they are (imports.held_images).
    skipped: list[dict[str, Any]] = field(default_factory=list)
    job: Job | None = None


def import_run(
    *,
    project: Project,
    fmt: str,
    data: bytes,
    by: User,
    dry_run: bool = False,
    label: int | None = None,
    options: dict[str, Any] | None = None,
) -> ImportPlan:
    """Images and annotations (or boxes, as an auto-annotation job) in one step, all or
    nothing; with `dry_run`, the same plan with nothing written and problems listed instead of
    refused."""
    stored: list[Image] = []
    try:
        with transaction.atomic():
            plan = ImportPlan()
            extra = _archive_images(project, fmt, data, by, dry_run, plan, stored)
            if stored:
                upload_quota_check(project=project)
                embedding_request(images=stored)
            if dry_run:
                _quota_problem(project, plan)
            if fmt == "yolo_boxes":
                _boxes(project, data, by, dry_run, label, options or {}, extra, plan)
            else:
                _annotations(project, fmt, data, by, dry_run, extra, plan)
            if not dry_run and plan.problems:
                raise Invalid(" ".join(plan.problems))
    except Exception:
        for image in stored:
            image.file.delete(save=False)
        raise
    return plan


def _quota_problem(project: Project, plan: ImportPlan) -> None:
    # The real import's upload_quota_check, said in advance (counted, not locked: a plan).
    limit = settings.QUOTA_PROJECT_IMAGES
    count = project.images.count() + len(plan.images_new)
    if limit and count > limit:
        plan.problems.append(
            f"The project would hold {count} images; its quota is {limit} (QUOTA_PROJECT_IMAGES)."
        )


def _archive_images(
    project: Project,
    fmt: str,
    data: bytes,
    by: User,
    dry_run: bool,
    plan: ImportPlan,
    stored: list[Image],
) -> list[Image]:
    """The archive's images as rows (unsaved ones in a dry run), new or already there."""
    found: dict[str, Image] = {}
    for path, content in _image_entries(fmt, data):
        name = upload_name(posixpath.basename(path))
        try:
            normal = normalise_image(content, name=name)
        except ImageRejected as exc:
            raise (TooLarge if exc.code == "too_large" else Invalid)(str(exc)) from None
        known = found.get(normal.sha256) or project.images.filter(sha256=normal.sha256).first()
        if known is not None:
            plan.images_known += known.pk is not None and normal.sha256 not in found
            found.setdefault(normal.sha256, known)
            continue
        plan.images_new.append(name)
        if dry_run:
            image = Image(project=project, original_name=name, sha256=normal.sha256)
            image.width, image.height = normal.width, normal.height
        else:
            image = image_store(project=project, data=content, name=name, uploaded_by=by)
            stored.append(image)
        found[normal.sha256] = image
    return list(found.values())


def _image_entries(fmt: str, data: bytes) -> list[tuple[str, bytes]]:
    from annotator.formats import FormatError
    from annotator.formats.safe_zip import ZipLimits, check_zip

    if not is_zip_archive(data):
        return []
    limits = ZipLimits(max_entries=10_000, max_total_bytes=settings.IMAGE_MAX_ZIP_BYTES)
    out = []
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info, member in check_zip(archive, limits):
                parts = member.split("/")
                if posixpath.splitext(member)[1].lower() not in IMAGE_SUFFIXES:
                    continue
                if parts[0] == "__MACOSX" or parts[-1].startswith("."):
                    continue
                if fmt == "masks" and "images" not in parts[:-1]:
                    continue
                if info.file_size > settings.IMAGE_MAX_UPLOAD_BYTES:
                    raise TooLarge(f"{member}: over IMAGE_MAX_UPLOAD_BYTES.")
                with archive.open(info) as f:
                    out.append((member, f.read(settings.IMAGE_MAX_UPLOAD_BYTES + 1)))
    except (zipfile.BadZipFile, FormatError, OSError) as exc:
        raise Invalid(f"Malformed {fmt} archive: {exc}") from None
    return out


def _annotations(
    project: Project,
    fmt: str,
    data: bytes,
    by: User,
    dry_run: bool,
    extra: list[Image],
    plan: ImportPlan,
) -> None:
    dataset = dataset_read(project=project, fmt=fmt, data=data, extra=extra)
    index = ImageIndex(project, extra)
    known = {label.name for label in project.labels.all()}
    wanted = [*dataset.labels, *(a.label for i in dataset.images for a in i.annotations)]
    plan.labels_to_create = list(dict.fromkeys(n.strip() for n in wanted if n.strip() not in known))
    counts: Counter[str] = Counter()
    matched = []
    found = [
        (item, index.find(item.file_name))
        for item in dataset.images
        if item.annotations or getattr(item, "tags", None)
    ]
    held = _skip(plan, [image for _, image in found if image is not None], by)
    for item, image in found:
        if image is None:
            plan.problems.append(f"{item.file_name} is neither in the project nor in the archive.")
            continue
        if image.pk is not None and image in held:
            continue
        if (item.width, item.height) != (image.width, image.height):
            plan.problems.append(
                f"{item.file_name} is {item.width}x{item.height} in the file but "
                f"{image.width}x{image.height} as an image."
            )
            continue
        matched.append((item, image))
        counts.update(a.label.strip() for a in item.annotations)
    plan.images_annotated = len(matched)
    plan.annotations = dict(sorted(counts.items()))
    try:
        labels_check_room(project=project, adding=len(plan.labels_to_create))
    except Invalid as exc:
        plan.problems.append(str(exc))
    if dry_run or plan.problems:
        return
    refuse_if_all_held(plan.skipped, left=matched)
    labels, _ = labels_for_import(project, dataset)
    # Image tags and attribute definitions the file names (services/imports_shapes.py).
    tags = tag_labels_for(project=project, dataset=dataset)
    attributes_for(project=project, dataset=dataset, labels=labels)
    annotations_store(matched=matched, labels=labels, by=by, tags=tags)


def _boxes(
    project: Project,
    data: bytes,
    by: User,
    dry_run: bool,
    label: int | None,
    options: dict[str, Any],
    extra: list[Image],
    plan: ImportPlan,
) -> None:
    """YOLO boxes keep their class ids: a class named in the archive (classes.txt or
    data.yaml) gets the label of that name (created if new); without names, a `label` gives
    every box that label, else class id i is the project's i-th label, the order our YOLO
    exports write."""
    found = yolo_boxes_read(project=project, data=data, extra=extra)
    stored = Image.objects.filter(
        project=project, pk__in=[int(k) for k in found.boxes if k.isdigit()]
    )
    held = _skip(plan, list(stored), by)
    for image in held:
        found.boxes.pop(str(image.pk), None)
        found.classes.pop(str(image.pk), None)
    plan.problems += [
        f"{name}: no such image in the project or the archive." for name in found.missing
    ]
    labels = list(project.labels.filter(kind=Label.Kind.OBJECT).order_by("order", "id"))
    by_name = {lb.name: lb for lb in labels}
    names: dict[int, str] = {}
    if found.names:
        names = dict(enumerate(found.names))
        plan.labels_to_create = [n for n in found.names if n not in by_name]
    elif label is None:
        names = {i: lb.name for i, lb in enumerate(labels)}
    fallback = next((lb.name for lb in labels if lb.pk == label), None)
    counts: Counter[str] = Counter()
    for classes in found.classes.values():
        for cls in classes:
            name = names.get(cls, fallback)
            if name is None:
                plan.problems.append(f"Class {cls} has no label: name it in classes.txt or pick a label.")  # fmt: skip
                return
            counts[name] += 1
    plan.boxes = dict(sorted(counts.items()))
    plan.images_annotated = len(found.boxes)
    if not found.boxes and not held:
        plan.problems.append("The archive holds no YOLO box files (<image stem>.txt).")
    if dry_run or plan.problems:
        return
    refuse_if_all_held(plan.skipped, left=found.boxes)
    for name in plan.labels_to_create:
        by_name[name] = _labels_for_names(project, [name])[name]
    class_labels = {str(c): by_name[n].pk for c, n in names.items() if n in by_name}
    # The boxes are someone's labels, not a machine's guesses: their masks are kept at once
    # (keep_above 0), as an import's annotations are; a locked image's stay proposals.
    params: dict[str, Any] = {"boxes": found.boxes, "box_classes": found.classes, "keep_above": 0}
    params |= {k: options[k] for k in BOX_JOB_OPTIONS if options.get(k) is not None}
    if class_labels:
        params["class_labels"] = class_labels
    if label is not None:
        params["label"] = label
    plan.job = job_create(project=project, kind="auto_annotate", created_by=by, params=params)
    if plan.skipped:
        plan.job.skipped = plan.skipped
        plan.job.save(update_fields=["skipped"])


def _skip(plan: ImportPlan, images: list[Image], by: User) -> dict[Image, dict[str, Any]]:
    held = held_images(images, by=by)
    plan.skipped += list(held.values())
    return held


def _labels_for_names(project: Project, names: list[str]) -> dict[str, Any]:
    from annotator.formats.dataset import Dataset

    labels, _ = labels_for_import(project, Dataset(labels=names))
    return labels


def plan_result(plan: ImportPlan) -> ImportResult:
    return ImportResult(
        images=plan.images_annotated,
        annotations=sum(plan.annotations.values()),
        labels_created=plan.labels_to_create,
        skipped=plan.skipped,
    )
