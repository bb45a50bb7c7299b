"""Writes. Every change to the data goes through a function here (HackSoft style).

Functions are keyword-only and named `<entity>_<action>`; they raise a ServiceError subclass for
anything the caller did wrong, and the API turns its `status` into the HTTP answer.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import logging
import math
import os
import posixpath
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from annotator import leases, tasks
from annotator.images import ImageRejected, is_zip_archive, normalise_image
from annotator.models import (
    Annotation,
    Embedding,
    Image,
    Job,
    Label,
    Membership,
    Project,
    Role,
    SamModel,
)
from annotator.storage import STORAGE_ERRORS

User = AbstractBaseUser
log = logging.getLogger(__name__)


class ServiceError(Exception):
    status = 400

    def __init__(self, message: str = "", **extra: Any) -> None:
        super().__init__(message)
        # Fields the API adds to the error body beside "detail" (e.g. a 409's current_version,
        # so a client can reload without guessing).
        self.extra = extra


class Invalid(ServiceError):
    status = 400


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class TooLarge(ServiceError):
    status = 413


class Locked(ServiceError):
    status = 423


class Unavailable(ServiceError):
    """A service this needs (storage, the task queue) failed; retrying later may work."""

    status = 503


class InsufficientStorage(ServiceError):
    status = 507


# --- Projects, members, labels -----------------------------------------------------------------


def sam_model_get_or_create(*, checkpoint: str | None = None) -> SamModel:
    checkpoint = checkpoint or settings.SAM_CHECKPOINT
    model, _ = SamModel.objects.get_or_create(
        checkpoint=checkpoint, defaults={"model_type": settings.SAM_MODEL_TYPE}
    )
    return model


@transaction.atomic
def project_create(
    *,
    name: str,
    description: str = "",
    created_by: User,
    labels: list[tuple[str, str]] | None = None,
    sam_checkpoint: str | None = None,
) -> Project:
    """Create a project; its creator becomes its owner."""
    if not name.strip():
        raise Invalid("A project needs a name.")
    project = Project.objects.create(
        name=name.strip(),
        description=description,
        created_by=created_by,
        sam_model=sam_model_get_or_create(checkpoint=sam_checkpoint),
    )
    Membership.objects.create(project=project, user=created_by, role=Role.OWNER)
    for label_name, color in labels or []:
        label_create(project=project, name=label_name, color=color)
    return project


def project_update(
    *, project: Project, name: str | None = None, description: str | None = None
) -> Project:
    if name is not None:
        if not name.strip():
            raise Invalid("A project needs a name.")
        project.name = name.strip()
    if description is not None:
        project.description = description
    project.save(update_fields=["name", "description"])
    return project


def project_delete(*, project: Project) -> None:
    with transaction.atomic():
        # Annotations protect their labels; the whole project goes, so drop them first.
        Annotation.objects.filter(image__project=project).delete()
        files = _stored_files(project)
        project.delete()
    transaction.on_commit(lambda: _delete_files(files))


def membership_set(*, project: Project, user: User, role: str, by_role: str) -> Membership:
    """Add a member or change a role. Only owners appoint or demote owners and managers."""
    if role not in Role.values:
        raise Invalid(f"Unknown role {role!r}; one of {', '.join(Role.values)}.")
    existing = Membership.objects.filter(project=project, user=user).first()
    privileged = {Role.OWNER, Role.MANAGER}
    touches_privileged = role in privileged or (existing and existing.role in privileged)
    if touches_privileged and by_role != Role.OWNER:
        raise Invalid("Only an owner can appoint or change owners and managers.")
    with transaction.atomic():
        if existing and existing.role == Role.OWNER and role != Role.OWNER:
            _ensure_another_owner(project=project, user=user)
        membership, _ = Membership.objects.update_or_create(
            project=project, user=user, defaults={"role": role}
        )
    return membership


def membership_remove(*, membership: Membership, by_role: str) -> None:
    if membership.role in {Role.OWNER, Role.MANAGER} and by_role != Role.OWNER:
        raise Invalid("Only an owner can remove owners and managers.")
    with transaction.atomic():
        if membership.role == Role.OWNER:
            _ensure_another_owner(project=membership.project, user=membership.user)
        membership.delete()


def _ensure_another_owner(*, project: Project, user: User) -> None:
    if not project.memberships.filter(role=Role.OWNER).exclude(user=user).exists():
        raise Conflict("A project must keep at least one owner.")


def _check_color(color: str) -> str:
    value = color.strip().lower()
    if len(value) != 7 or value[0] != "#" or any(c not in "0123456789abcdef" for c in value[1:]):
        raise Invalid(f"Colour {color!r} is not #rrggbb.")
    return value


def _check_label_name(name: str) -> str:
    # Imports create labels from names in the file; the column is 100 characters, which SQLite
    # ignores and PostgreSQL enforces with an error (a 500).
    limit = Label._meta.get_field("name").max_length or 100
    if not name.strip():
        raise Invalid("A label needs a name.")
    if len(name.strip()) > limit:
        raise Invalid(f"Label name {name.strip()[:40]!r}... is over {limit} characters.")
    return name.strip()


def label_create(*, project: Project, name: str, color: str = "#ff0000") -> Label:
    _check_label_name(name)
    if project.labels.filter(name=name.strip()).exists():
        raise Conflict(f"The project already has a label {name.strip()!r}.")
    return Label.objects.create(project=project, name=name.strip(), color=_check_color(color))


def label_update(*, label: Label, name: str | None = None, color: str | None = None) -> Label:
    if name is not None:
        _check_label_name(name)
        if label.project.labels.filter(name=name.strip()).exclude(pk=label.pk).exists():
            raise Conflict(f"The project already has a label {name.strip()!r}.")
        label.name = name.strip()
    if color is not None:
        label.color = _check_color(color)
    label.save()
    return label


def label_delete(*, label: Label) -> None:
    if label.annotations.exists():
        raise Conflict("The label is used by annotations; delete or relabel them first.")
    label.delete()


# --- Images ------------------------------------------------------------------------------------


def image_create(*, project: Project, file: File, uploaded_by: User) -> Image:
    """Validate, normalise and store one image; its embedding is enqueued when the transaction
    commits (so the worker never looks for a row that is not there yet)."""
    data = upload_read(file)
    name = os.path.basename(getattr(file, "name", "") or "image")
    with transaction.atomic():
        image = _image_store(project=project, data=data, name=name, uploaded_by=uploaded_by)
        embedding_request(images=[image])
    return image


def image_import(*, project: Project, files: Sequence[File], uploaded_by: User) -> list[Image]:
    """Upload several images and zip archives at once, all or nothing.

    Zip entries are read one at a time (memory holds one image, not the whole archive); an
    entry whose path escapes the archive refuses the whole upload, since it can only be hostile.
    When anything is refused, the files already stored for this upload are deleted again.
    """
    images: list[Image] = []
    try:
        with transaction.atomic():
            for upload in files:
                name = os.path.basename(getattr(upload, "name", "") or "upload")
                data = upload_read(upload)
                # By the leading bytes: an image with a zip appended is a polyglot, refused by
                # normalise_image, not an archive to unpack.
                entries = _zip_entries(name, data) if is_zip_archive(data) else iter([(name, data)])
                for entry_name, content in entries:
                    images.append(
                        _image_store(
                            project=project, data=content, name=entry_name, uploaded_by=uploaded_by
                        )
                    )
            if not images:
                raise Invalid("No images were uploaded.")
            embedding_request(images=images)
    except Exception:
        for image in images:
            image.file.delete(save=False)
        raise
    return images


def upload_read(file: File) -> bytes:
    """An uploaded file's bytes, refused (TooLarge) over IMAGE_MAX_UPLOAD_BYTES; images and
    annotation imports share the limit."""
    size = getattr(file, "size", None)
    if size is not None and size > settings.IMAGE_MAX_UPLOAD_BYTES:
        raise TooLarge(f"{file.name}: {size} bytes is over IMAGE_MAX_UPLOAD_BYTES.")
    file.seek(0)
    return file.read()


def _zip_entries(name: str, data: bytes) -> Iterator[tuple[str, bytes]]:
    """The files of an uploaded zip, after annotator.formats.safe_zip has checked the central
    directory (zip slip, links, entry count, total size, compression ratio). Declared sizes can
    lie, so each entry is read with a bound as well."""
    from annotator.formats import FormatError
    from annotator.formats.safe_zip import ZipLimits, check_zip

    limits = ZipLimits(max_entries=10_000, max_total_bytes=settings.IMAGE_MAX_ZIP_BYTES)
    bound = settings.IMAGE_MAX_UPLOAD_BYTES
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise Invalid(f"{name}: not a readable zip archive ({exc}).") from None
    with archive:
        try:
            members = check_zip(archive, limits)
        except FormatError as exc:
            raise Invalid(f"{name}: {exc}.") from None
        for info, member in members:
            base = posixpath.basename(member)
            if base.startswith(".") or member.startswith("__MACOSX/"):
                continue  # Finder metadata, not images
            if info.file_size > bound:
                raise TooLarge(f"{name}: entry {member!r} is over IMAGE_MAX_UPLOAD_BYTES.")
            try:
                with archive.open(info) as f:
                    content = f.read(bound + 1)
            except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as exc:
                raise Invalid(f"{name}: entry {member!r} is unreadable ({exc}).") from None
            if len(content) > bound:
                raise TooLarge(f"{name}: entry {member!r} is over IMAGE_MAX_UPLOAD_BYTES.")
            if is_zip_archive(content):
                # Unpacking archives inside archives is how 42.zip-style bombs multiply.
                raise Invalid(f"{name}: entry {member!r} is a zip inside the zip; upload it alone.")
            yield base, content


def _image_store(*, project: Project, data: bytes, name: str, uploaded_by: User) -> Image:
    try:
        normal = normalise_image(data, name=name)
    except ImageRejected as exc:
        raise (TooLarge if exc.code == "too_large" else Invalid)(str(exc)) from None
    duplicate = project.images.filter(sha256=normal.sha256).first()
    if duplicate:
        raise Conflict(f"{name}: the project already has this image (id {duplicate.pk}).")
    image = Image(
        project=project,
        original_name=name[:255],
        width=normal.width,
        height=normal.height,
        sha256=normal.sha256,
        uploaded_by=uploaded_by,
    )
    try:
        image.file.save(
            f"{normal.sha256[:32]}.{normal.extension}", ContentFile(normal.content), False
        )
    except STORAGE_ERRORS as exc:
        raise _storage_error(name, exc) from exc
    try:
        with transaction.atomic():
            image.save()
    except IntegrityError:
        # Two uploads of the same file raced; the loser's file is an orphan.
        image.file.delete(save=False)
        raise Conflict(f"{name}: the project already has this image.") from None
    return image


def _storage_error(name: str, exc: Exception) -> ServiceError:
    """The upload's answer when media storage refuses a write: 507 for a full disk or quota,
    503 for anything else (unwritable, missing or read-only storage, an object store that
    refuses or does not answer). Nothing partial stays behind: the storage writes whole files
    only (annotator.storage), the transaction rolls the rows back and image_import deletes the
    files this upload stored before."""
    if not isinstance(exc, OSError):
        return Unavailable(f"{name}: not stored, the object storage refused the write ({exc}).")
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return InsufficientStorage(f"{name}: not stored, the image storage is full ({reason}).")
    return Unavailable(f"{name}: not stored, the image storage refused the write ({reason}).")


ASSIGNABLE = {Image.Status.NEW, Image.Status.IN_PROGRESS, Image.Status.SUBMITTED}
REVIEW_STATUSES = {Image.Status.ACCEPTED, Image.Status.REJECTED}


def image_update(
    *, image: Image, status: str | None = None, assignee: User | None | bool = False
) -> Image:
    """Change status and/or assignee (`assignee=False` leaves it, None clears it)."""
    fields = ["updated_at"]
    if status is not None:
        if status not in Image.Status.values:
            raise Invalid(f"Unknown status {status!r}; one of {', '.join(Image.Status.values)}.")
        image.status = status
        fields.append("status")
    if assignee is not False:
        if assignee is not None and not image.project.memberships.filter(user=assignee).exists():
            raise Invalid("The assignee is not a member of the project.")
        image.assignee = assignee if isinstance(assignee, AbstractBaseUser) else None
        fields.append("assignee")
    image.save(update_fields=fields)
    return image


REVIEWABLE = {Image.Status.SUBMITTED, Image.Status.ACCEPTED, Image.Status.REJECTED}


def image_review(*, image: Image, reviewer: User, decision: str, comment: str = "") -> Image:
    """Accept or reject a submitted image, keeping the comment for the annotator."""
    if decision not in ("accept", "reject"):
        raise Invalid("decision must be accept or reject.")
    if image.status not in REVIEWABLE:
        raise Conflict(f"Only submitted images can be reviewed; this one is {image.status}.")
    image.status = Image.Status.ACCEPTED if decision == "accept" else Image.Status.REJECTED
    image.review_comment = comment
    image.reviewed_by = reviewer
    image.reviewed_at = timezone.now()
    image.save(
        update_fields=["status", "review_comment", "reviewed_by", "reviewed_at", "updated_at"]
    )
    return image


def image_assign(*, images: Iterable[Image], assignee: User | None) -> int:
    count = 0
    for image in images:
        image_update(image=image, assignee=assignee)
        count += 1
    return count


def image_delete(*, image: Image) -> None:
    """Delete an image with its annotations, embeddings and stored files."""
    files = [image.file.name, *[e.file.name for e in image.embeddings.all() if e.file]]
    image.delete()
    storage = image.file.storage
    transaction.on_commit(lambda: _delete_files([(storage, f) for f in files]))


def _stored_files(project: Project) -> list[tuple[Any, str]]:
    storage = Image.file.field.storage
    names = list(project.images.values_list("file", flat=True))
    names += list(
        Embedding.objects.filter(image__project=project)
        .exclude(file="")
        .values_list("file", flat=True)
    )
    return [(storage, name) for name in names if name]


def _delete_files(files: list[tuple[Any, str]]) -> None:
    for storage, name in files:
        # An orphan file is harmless; a request failing after its commit is not.
        with contextlib.suppress(Exception):
            storage.delete(name)


def image_lock(*, image: Image, user: User) -> Image:
    """Take (or extend) the edit lock. A single conditional UPDATE, so two people racing for
    the same image cannot both win, on SQLite or PostgreSQL alike."""
    now = timezone.now()
    until = now + timedelta(seconds=settings.IMAGE_LOCK_SECONDS)
    taken = (
        Image.objects.filter(pk=image.pk)
        .filter(Q(locked_by__isnull=True) | Q(locked_until__lt=now) | Q(locked_by=user))
        .update(locked_by=user, locked_until=until)
    )
    image.refresh_from_db(fields=["locked_by", "locked_until"])
    if not taken:
        raise Locked(f"The image is being edited by {image.locked_by} until {image.locked_until}.")
    return image


def image_unlock(*, image: Image, user: User, force: bool = False) -> Image:
    qs = Image.objects.filter(pk=image.pk)
    if not force:
        qs = qs.filter(locked_by=user)
    qs.update(locked_by=None, locked_until=None)
    image.refresh_from_db(fields=["locked_by", "locked_until"])
    return image


def _free_for(user: User) -> Q:
    """Images nobody else holds a live lock on, as a filter on Image."""
    return (
        Q(locked_by__isnull=True)
        | Q(locked_by=user)
        | Q(locked_until__isnull=True)
        | Q(locked_until__lte=timezone.now())
    )


def _check_not_locked_by_other(image: Image, user: User) -> None:
    if (
        image.locked_by_id is not None
        and image.locked_by_id != user.pk
        and image.locked_until is not None
        and image.locked_until > timezone.now()
    ):
        raise Locked(f"The image is being edited by {image.locked_by} until {image.locked_until}.")


# --- Annotations -------------------------------------------------------------------------------


def _geometry(*, image: Image, polygons: Any = None, rle: Any = None) -> dict[str, Any]:
    """Polygons and RLE of one mask, from whichever the caller sent, checked against the image."""
    from annotator import geometry  # numpy/opencv/pycocotools: only loaded when needed

    try:
        if polygons is not None:
            checked = geometry.validate_polygons(polygons, image.width, image.height)
            # Drawn by a person (or a script): a ring crossing itself is a mistake, refused here;
            # imports keep such rings (other tools' simplified outlines may cross).
            geometry.check_simple(checked)
            polygons = checked
            mask = geometry.polygons_to_mask(polygons, image.height, image.width)
        elif rle is not None:
            if not isinstance(rle, dict) or list(rle.get("size", [])) != [
                image.height,
                image.width,
            ]:
                raise Invalid(f"rle.size must be [{image.height}, {image.width}].")
            mask = geometry.rle_to_mask(rle)
            polygons = geometry.mask_to_polygons(mask)
        else:
            raise Invalid("An annotation needs polygons or rle.")
    except geometry.GeometryError as exc:
        raise Invalid(f"Malformed geometry: {exc}") from None
    except (TypeError, ValueError, KeyError) as exc:
        raise Invalid(f"Malformed geometry: {exc}") from None
    area = float(geometry.mask_area(mask))
    if area <= 0:
        raise Invalid("The geometry covers no pixel of the image.")
    return {
        "polygons": polygons,
        "rle": geometry.mask_to_rle(mask),
        "bbox": [float(v) for v in geometry.mask_bbox(mask)],
        "area": area,
    }


def _check_label(image: Image, label: Label) -> None:
    if label.project_id != image.project_id:
        raise Invalid("The label belongs to another project.")


def annotation_create(
    *,
    image: Image,
    label: Label,
    created_by: User,
    polygons: Any = None,
    rle: Any = None,
    source: str = Annotation.Source.MANUAL,
    score: float | None = None,
    prompts: dict[str, Any] | None = None,
) -> Annotation:
    _check_label(image, label)
    # The lock as it is now: the caller's copy of the image may predate a lock taken since.
    image.refresh_from_db(fields=["locked_by", "locked_until"])
    _check_not_locked_by_other(image, created_by)
    if source not in Annotation.Source.values:
        raise Invalid(f"Unknown source {source!r}.")
    return Annotation.objects.create(
        image=image,
        label=label,
        source=source,
        score=score,
        prompts=prompts or {},
        created_by=created_by,
        updated_by=created_by,
        **_geometry(image=image, polygons=polygons, rle=rle),
    )


def annotation_update(
    *,
    annotation: Annotation,
    version: int,
    updated_by: User,
    label: Label | None = None,
    polygons: Any = None,
    rle: Any = None,
    score: float | None = None,
    prompts: dict[str, Any] | None = None,
) -> Annotation:
    """Update if nobody changed the annotation since `version` was read; else Conflict (409).

    The version check and the write are one UPDATE ... WHERE version = %s, so of two clients
    holding the same version exactly one wins, whatever the database's isolation level.
    """
    image = annotation.image
    _check_not_locked_by_other(image, updated_by)
    changes: dict[str, Any] = {}
    if label is not None:
        _check_label(image, label)
        changes["label"] = label
    if polygons is not None or rle is not None:
        changes.update(_geometry(image=image, polygons=polygons, rle=rle))
    if score is not None:
        changes["score"] = score
    if prompts is not None:
        changes["prompts"] = prompts
    # The lock is part of the same conditional UPDATE: the image this request loaded may
    # predate a lock someone else took since, and a check on it alone would let the write in.
    free = Image.objects.filter(_free_for(updated_by)).filter(pk=image.pk)
    updated = Annotation.objects.filter(pk=annotation.pk, version=version, image__in=free).update(
        **changes, version=F("version") + 1, updated_by=updated_by, updated_at=timezone.now()
    )
    if not updated:
        _raise_why_not_written(annotation=annotation, version=version, user=updated_by)
    annotation.refresh_from_db()
    return annotation


def _raise_why_not_written(*, annotation: Annotation, version: int | None, user: User) -> None:
    """A conditional write matched no row: say whether the annotation is gone (404), its image
    locked by someone else (423) or its version moved on (409, with the current version)."""
    current = Annotation.objects.filter(pk=annotation.pk).values_list("version", flat=True).first()
    if current is None:
        raise NotFound("The annotation was deleted meanwhile.")
    _check_not_locked_by_other(Image.objects.get(pk=annotation.image_id), user)
    raise Conflict(
        f"The annotation changed since version {version} "
        f"(now version {current}); reload it and apply your change again.",
        current_version=current,
    )


def annotation_delete(
    *, annotation: Annotation, deleted_by: User, version: int | None = None
) -> None:
    _check_not_locked_by_other(annotation.image, deleted_by)
    free = Image.objects.filter(_free_for(deleted_by)).filter(pk=annotation.image_id)
    qs = Annotation.objects.filter(pk=annotation.pk, image__in=free)
    if version is not None:
        qs = qs.filter(version=version)
    if not qs.delete()[0]:
        _raise_why_not_written(annotation=annotation, version=version, user=deleted_by)


@transaction.atomic
def annotation_bulk(
    *,
    image: Image,
    user: User,
    create: Sequence[dict[str, Any]] = (),
    delete: Sequence[int] = (),
    delete_versions: Sequence[int] | None = None,
) -> list[Annotation]:
    """Create and delete several annotations of one image in one transaction.

    `delete_versions`, when given, holds the version read for each id of `delete`: as with a
    single delete, an annotation someone changed since is not deleted, and the whole request is
    a 409 naming the current versions (without them the ids are deleted as they are now).
    """
    labels = {label.pk: label for label in image.project.labels.all()}
    if delete:
        found = Annotation.objects.filter(image=image, pk__in=delete)
        if found.count() != len(set(delete)):
            raise Invalid("Some annotations to delete are not on this image.")
        _check_not_locked_by_other(image, user)
        if delete_versions is None:
            found.delete()
        else:
            _bulk_delete_read_versions(found, dict(zip(delete, delete_versions, strict=True)))
    created = []
    for index, item in enumerate(create):
        label = labels.get(item.get("label"))  # type: ignore[arg-type]
        if label is None:
            raise Invalid(f"create[{index}]: unknown label {item.get('label')!r}.")
        try:
            created.append(
                annotation_create(
                    image=image,
                    label=label,
                    created_by=user,
                    polygons=item.get("polygons"),
                    rle=item.get("rle"),
                    source=item.get("source", Annotation.Source.MANUAL),
                    score=item.get("score"),
                    prompts=item.get("prompts"),
                )
            )
        except ServiceError as exc:
            raise type(exc)(f"create[{index}]: {exc}") from None
    return created


def _bulk_delete_read_versions(found: QuerySet[Annotation], read: dict[int, int]) -> None:
    """Delete each annotation only at the version its id was read with; else Conflict, and the
    caller's transaction takes back whatever this request did."""
    current = dict(found.values_list("pk", "version"))
    stale = {pk: current[pk] for pk, version in read.items() if current[pk] != version}
    if not stale:
        # Conditional, like a single delete: a save landing between the read above and these
        # statements leaves its row out, which the count below catches. One statement per
        # version read (usually a handful), not one OR term per id: SQLite refuses expressions
        # deeper than 1000 terms, and a bulk request may name 10,000 ids.
        by_version: dict[int, list[int]] = {}
        for pk, version in read.items():
            by_version.setdefault(version, []).append(pk)
        deleted = sum(
            found.filter(version=version, pk__in=pks).delete()[0]
            for version, pks in by_version.items()
        )
        if deleted == len(read):
            return
        stale = {
            pk: version
            for pk, version in found.values_list("pk", "version")
            if read.get(pk) != version
        }
    ids = ", ".join(str(pk) for pk in sorted(stale))
    raise Conflict(
        f"Annotations {ids} changed since they were read; nothing was deleted. Reload them.",
        current_versions={str(pk): version for pk, version in sorted(stale.items())},
    )


# --- Embeddings --------------------------------------------------------------------------------


def embedding_request(
    *, images: Sequence[Image], force: bool = False, enqueue: bool = True
) -> list[Embedding]:
    """Make sure each image has an embedding row for its project's model, and enqueue the work
    when the transaction commits (`enqueue=False`: the caller enqueues the returned rows, to
    learn whether the broker took them). Ready rows are left alone unless `force`; failed rows
    are reset to pending (a manual retry)."""
    rows: list[Embedding] = []
    if force:
        # An explicit recompute also retries a failed decoder export of the same models.
        SamModel.objects.filter(
            pk__in={image.project.sam_model_id for image in images},
            onnx_status=SamModel.OnnxStatus.FAILED,
        ).update(onnx_status=SamModel.OnnxStatus.PENDING)
    for image in images:
        row, created = Embedding.objects.get_or_create(
            image=image, sam_model_id=image.project.sam_model_id
        )
        if not created and (force or row.status == Embedding.Status.FAILED):
            row.status = Embedding.Status.PENDING
            row.error = ""
            row.attempts = 0
            row.save(update_fields=["status", "error", "attempts", "updated_at"])
        if row.status == Embedding.Status.PENDING:
            rows.append(row)
    ids = [row.pk for row in rows]
    size = settings.SAM_EMBEDDING_BATCH_SIZE
    for start in range(0, len(ids) if enqueue else 0, size):
        batch = ids[start : start + size]
        # A broker outage does not undo the upload: the rows stay pending and unqueued, and
        # the workers' sweep or the next request of the embedding enqueues them.
        transaction.on_commit(lambda batch=batch: tasks.embedding_enqueue(batch))
    return rows


def embedding_compute_pending(*, limit: int | None = None, sync: bool = False) -> int:
    """Re-enqueue (or, with `sync`, compute in this process) every pending embedding.

    For management commands and the demo: after a restart, or when uploads happened while no
    worker ran, this sweeps what is left. `sync=True` loads the model here (imports torch).
    """
    ids = list(
        Embedding.objects.filter(status=Embedding.Status.PENDING)
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )
    size = settings.SAM_EMBEDDING_BATCH_SIZE
    for start in range(0, len(ids), size):
        batch = ids[start : start + size]
        if sync:
            from annotator.embeddings import embedding_compute

            embedding_compute(embedding_ids=batch)
        elif not tasks.embedding_enqueue(batch):
            raise Unavailable("The task queue (Celery broker) is unavailable; try again later.")
    return len(ids)


# --- Jobs --------------------------------------------------------------------------------------


# Export format -> the name of the file the job produces. The names are the import's too.
EXPORT_WRITERS = {"coco": "annotations_coco.json", "yolo_seg": "yolo_seg.zip", "masks": "masks.zip"}
# Kinds that load the model run on the `gpu` queue, next to the embedding work.
MODEL_KINDS = {Job.Kind.EVERYTHING, Job.Kind.AUTO_ANNOTATE}


def job_create(
    *, project: Project, kind: str, created_by: User, params: dict[str, Any] | None = None
) -> Job:
    if kind not in Job.Kind.values:
        raise Invalid(f"Unknown job kind {kind!r}; one of {', '.join(Job.Kind.values)}.")
    params = params or {}
    # `params` is free-form JSON: each value is type-checked before it meets a set, a dict or a
    # query (a list as `format` or `label` raised TypeError or ValueError there: a 500).
    _check_types(params)
    if kind == Job.Kind.EXPORT:
        fmt = params.setdefault("format", "coco")
        if fmt not in EXPORT_WRITERS:
            raise Invalid(f"Unknown export format {fmt!r}; one of {', '.join(EXPORT_WRITERS)}.")
    _check_selection_params(params)
    if kind == Job.Kind.EVERYTHING:
        label = params.get("label")
        if label is None or not project.labels.filter(pk=label).exists():
            raise Invalid("Everything mode needs `label`: the id of a label of this project.")
        _check_everything_params(params)
    if kind == Job.Kind.AUTO_ANNOTATE:
        _check_auto_annotate_params(project=project, params=params)
    job = Job.objects.create(project=project, kind=kind, params=params, created_by=created_by)
    queue = "gpu" if kind in MODEL_KINDS else "default"
    if transaction.get_connection().in_atomic_block:
        # The caller's transaction (an import) decides whether the job exists; a worker must not
        # see it before then. A broker failure after that commit can no longer become the
        # request's answer, so it fails the job with a reason the user can act on.
        transaction.on_commit(lambda: _job_publish_or_fail(job, queue))
    elif not tasks.send(tasks.job_run_task, [job.pk], queue=queue):
        # Nothing would ever run a job that no queue holds: refuse it instead of keeping a row
        # that stays pending forever.
        job.delete()
        raise Unavailable("The task queue (Celery broker) is unavailable; try again later.")
    return job


def _job_publish_or_fail(job: Job, queue: str) -> None:
    if not tasks.send(tasks.job_run_task, [job.pk], queue=queue):
        Job.objects.filter(pk=job.pk, status=Job.Status.PENDING).update(
            status=Job.Status.FAILED,
            error="The task queue (Celery broker) was unavailable; start the job again.",
        )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_PARAM_TYPES: dict[str, tuple[str, Any]] = {
    "format": ("a format name", lambda v: isinstance(v, str)),
    "label": ("a label id", _is_int),
    "detector": ("a detector name", lambda v: isinstance(v, str)),
    "mask_mode": ("instance or semantic", lambda v: v in ("instance", "semantic")),
    "rle": ("true or false", lambda v: isinstance(v, bool)),
    "conf": (
        "a number from 0 to 1",
        lambda v: isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 1,
    ),
    "class_labels": (
        "an object mapping class ids to label ids",
        lambda v: (
            isinstance(v, dict) and all(str(k).isdigit() and _is_int(i) for k, i in v.items())
        ),
    ),
}


def _check_types(params: dict[str, Any]) -> None:
    for key, (what, ok) in _PARAM_TYPES.items():
        if params.get(key) is not None and not ok(params[key]):
            raise Invalid(f"`{key}` must be {what}, got {params[key]!r:.80}.")


def _check_selection_params(params: dict[str, Any]) -> None:
    """`status` and `image_ids` narrow every job's images; refused here rather than failing
    the job in a worker."""
    status = params.get("status")
    if status is not None and (
        not isinstance(status, list) or not all(v in Image.Status.values for v in status)
    ):
        raise Invalid(f"`status` is a list of image statuses ({', '.join(Image.Status.values)}).")
    ids = params.get("image_ids")
    if ids is not None and (
        not isinstance(ids, list)
        or not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v < 2**63 for v in ids)
    ):
        raise Invalid("`image_ids` is a list of image ids.")


# Everything mode's options (annotator.embeddings.EVERYTHING_PARAMS) and the ranges that make
# sense: points_per_side=10**6 would ask a worker for 10**12 prompts.
_EVERYTHING_BOUNDS: dict[str, tuple[type, float, float]] = {
    "points_per_side": (int, 1, 128),
    "points_per_batch": (int, 1, 1024),
    "pred_iou_thresh": (float, 0.0, 1.0),
    "stability_score_thresh": (float, 0.0, 1.0),
    "box_nms_thresh": (float, 0.0, 1.0),
    "min_mask_region_area": (int, 0, 100_000_000),
    "crop_n_layers": (int, 0, 3),
}


def _check_everything_params(params: dict[str, Any]) -> None:
    for key, (kind, low, high) in _EVERYTHING_BOUNDS.items():
        if key not in params:
            continue
        value = params[key]
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if (
            not number
            or (kind is int and not isinstance(value, int))
            or not math.isfinite(value)
            or not low <= value <= high
        ):
            what = "an integer" if kind is int else "a number"
            raise Invalid(f"`{key}` must be {what} from {low:g} to {high:g}, got {value!r}.")


def _check_auto_annotate_params(*, project: Project, params: dict[str, Any]) -> None:
    """Auto-annotation prompts SAM with boxes: given inline (`boxes`: {image id: [[x0, y0, x1,
    y1], ...]}, labelled `label`) or found by a configured detector (`detector`: a name from
    AUTO_ANNOTATE_DETECTORS, `class_labels`: {class id: label id}, `label` for the rest)."""
    label_ids = set(project.labels.values_list("pk", flat=True))
    if params.get("label") is not None and params["label"] not in label_ids:
        raise Invalid("`label` is not a label of this project.")
    boxes, detector = params.get("boxes"), params.get("detector")
    if (boxes is None) == (detector is None):
        raise Invalid("Auto-annotation needs exactly one of `boxes` or `detector`.")
    if detector is not None:
        if detector not in settings.AUTO_ANNOTATE_DETECTORS:
            offered = ", ".join(sorted(settings.AUTO_ANNOTATE_DETECTORS)) or "none configured"
            raise Invalid(f"Unknown detector {detector!r} (available: {offered}).")
        class_labels = params.get("class_labels", {})
        if not isinstance(class_labels, dict) or not set(class_labels.values()) <= label_ids:
            raise Invalid("`class_labels` maps class ids to label ids of this project.")
        if params.get("label") is None and not class_labels:
            raise Invalid("Give `label` or `class_labels` so detections get a label.")
        return
    if params.get("label") is None:
        raise Invalid("Inline `boxes` need `label`.")
    if not isinstance(boxes, dict):
        raise Invalid("`boxes` maps image ids to lists of [x0, y0, x1, y1].")
    sizes = {pk: (w, h) for pk, w, h in project.images.values_list("pk", "width", "height")}
    for key, items in boxes.items():
        if not str(key).isdigit() or int(key) not in sizes:
            raise Invalid(f"`boxes`: image {key!r} is not in this project.")
        width, height = sizes[int(key)]
        if not isinstance(items, list) or not all(_is_box(item, width, height) for item in items):
            raise Invalid(
                f"`boxes[{key}]`: each box is [x0, y0, x1, y1] of finite numbers with x0 < x1 "
                f"and y0 < y1, on the {width}x{height} image."
            )
    params["image_ids"] = sorted(int(key) for key in boxes)


def _is_box(item: Any, width: int, height: int) -> bool:
    if not (
        isinstance(item, list)
        and len(item) == 4
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in item)
        and all(math.isfinite(v) for v in item)
    ):
        return False
    x0, y0, x1, y1 = item
    # The prompt tolerance of drawn geometry (geometry._bounds_tolerance): a box far off the
    # image is a coordinate mix-up, and one with no area prompts nothing.
    tol = max(4.0, 0.02 * max(width, height))
    inside = -tol <= min(x0, x1) and max(x0, x1) <= width + tol
    inside = inside and -tol <= min(y0, y1) and max(y0, y1) <= height + tol
    return inside and x0 < x1 and y0 < y1


def job_progress(*, job: Job, done: int, total: int) -> None:
    Job.objects.filter(pk=job.pk).update(done=done, total=total)


def job_run(*, job: Job) -> Job:
    """Run a job to completion in this process (called by the worker's job_run_task)."""
    holder = leases.holder_id()
    claimed = Job.objects.filter(pk=job.pk, status=Job.Status.PENDING).update(
        status=Job.Status.RUNNING, worker=holder, lease_expires_at=leases.lease_end()
    )
    if not claimed:
        # Already running or finished: a redelivered task does nothing, except notice that the
        # worker it was redelivered from died (a prefork child killed mid-job).
        job_release_lost(ids=[job.pk])
        job.refresh_from_db()
        return job
    job.refresh_from_db()
    log.info("job %s (%s) started by %s", job.pk, job.kind, holder)
    with leases.heartbeat(Job, [job.pk], holder):
        _job_execute(job)
    job.finished_at = timezone.now()
    job.worker, job.lease_expires_at = "", None
    job.save(
        update_fields=["status", "error", "result", "finished_at", "worker", "lease_expires_at"]
    )
    return job


def job_release_lost(*, ids: Sequence[int] | None = None) -> list[int]:
    """Fail the running jobs whose worker is gone (see annotator.leases). They are not run
    again by themselves: a job may have created part of its annotations, and a second run would
    add them twice; the error says how far it got, and the user starts it again."""
    running = Job.objects.filter(status=Job.Status.RUNNING)
    if ids is not None:
        running = running.filter(pk__in=ids)
    stale = timezone.now() - timedelta(seconds=settings.EMBEDDING_LEASE_SECONDS)
    failed = []
    for job in leases.lost(running, unleased=Q(created_at__lt=stale)):
        holder = job.worker or "an unknown worker"
        error = (
            f"The worker running this job ({holder}) stopped after {job.done} of {job.total} "
            "images; what it created is kept. Start the job again for the rest."
        )
        changed = Job.objects.filter(
            pk=job.pk, status=Job.Status.RUNNING, worker=job.worker
        ).update(
            status=Job.Status.FAILED,
            error=error,
            worker="",
            lease_expires_at=None,
            finished_at=timezone.now(),
        )
        if changed:
            failed.append(job.pk)
            log.warning("job %s: %s", job.pk, error)
    return failed


def _job_execute(job: Job) -> None:
    """Run the job's kind; its outcome (done or failed with the reason) is set on `job`."""
    try:
        if job.kind == Job.Kind.EXPORT:
            name, content = _export_run(job=job)
            job.result.save(name, ContentFile(content), save=False)
        elif job.kind == Job.Kind.EVERYTHING:
            from annotator.embeddings import everything_run

            everything_run(job=job)
        else:
            from annotator.embeddings import auto_annotate_run

            auto_annotate_run(job=job)
    except Exception as exc:  # noqa: BLE001 - recorded on the row, where the user sees it
        job.status = Job.Status.FAILED
        job.error = f"{type(exc).__name__}: {exc}"
    else:
        job.status = Job.Status.DONE


def job_images(*, job: Job) -> QuerySet[Image]:
    """The images a job works on: the project's, narrowed by `status` and `image_ids`."""
    return _images_for(project=job.project, params=job.params)


def _images_for(*, project: Project, params: dict[str, Any]) -> QuerySet[Image]:
    images = project.images.order_by("id")
    if params.get("status"):
        images = images.filter(status__in=params["status"])
    if params.get("image_ids"):
        images = images.filter(pk__in=params["image_ids"])
    return images


def _export_run(*, job: Job) -> tuple[str, bytes]:
    return dataset_export(project=job.project, params=job.params, job=job)


def dataset_export(
    *, project: Project, params: dict[str, Any], job: Job | None = None
) -> tuple[str, bytes]:
    """The result file name and bytes of an export, written by annotator/formats/<format>.py.

    The export job and the `export_annotations` command both come here, so they write the same
    file. `params` as for an export Job: format, mask_mode, status, image_ids, rle (COCO)."""
    fmt = params.get("format", "coco")
    if fmt not in EXPORT_WRITERS:
        raise Invalid(f"export format {fmt!r} is not available")
    images = _images_for(project=project, params=params).prefetch_related("annotations__label")
    dataset = _project_dataset(project=project, images=list(images), job=job)
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


def _project_dataset(*, project: Project, images: list[Image], job: Job | None = None) -> Any:
    """The project's rows as the in-memory dataset every writer in annotator/formats takes."""
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
        if job is not None and (done % 50 == 0 or done == len(images)):
            job_progress(job=job, done=done, total=len(images))
    return dataset
