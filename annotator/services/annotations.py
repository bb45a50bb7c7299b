"""Annotations: created, updated and deleted under the image's edit lock and their version."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.db.models import F, QuerySet
from django.db.models.deletion import Collector
from django.utils import timezone

from annotator.models import Annotation, AnnotationVersion, Image, Label
from annotator.services.attributes import attribute_values
from annotator.services.errors import Conflict, Invalid, NotFound, ServiceError, User
from annotator.services.history import snapshot, version_record, versions_record_deleted
from annotator.services.locks import check_not_locked_by_other, free_for
from annotator.services.review import check_writable, image_start_if_open, writable_statuses


def _geometry(*, image: Image, polygons: Any = None, rle: Any = None) -> dict[str, Any]:
    """Polygons and RLE of one mask, from whichever the caller sent, checked against the image."""
    # OpenCV and pycocotools: loaded with the first annotation, not at web process start.
    from annotator import geometry

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


def _box_geometry(*, image: Image, bbox: Any) -> dict[str, Any]:
    """A box's [x, y, w, h] (pixels, on the image) and the rectangle's polygon and RLE, so
    every reader of polygons/rle/area (overlays, the list, YOLO-seg, PNG masks) takes a box as
    it takes a mask; its area is w * h, COCO's area of a box."""
    from annotator import geometry

    if (
        not isinstance(bbox, list | tuple)
        or len(bbox) != 4
        or any(isinstance(v, bool) or not isinstance(v, int | float) for v in bbox)
        or not all(math.isfinite(v) for v in bbox)
    ):
        raise Invalid("bbox must be [x, y, w, h]: four finite numbers, in pixels.")
    x, y, w, h = (float(v) for v in bbox)
    if w < 1 or h < 1:
        raise Invalid("A box is at least 1 pixel wide and high.")
    if x < 0 or y < 0 or x + w > image.width or y + h > image.height:
        raise Invalid(
            f"The box [{x}, {y}, {w}, {h}] is not inside the {image.width}x{image.height} image."
        )
    outer = [[x, y], [x + w, y], [x + w, y + h], [x, y + h]]
    polygons: list[Any] = [{"outer": outer, "holes": []}]
    mask = geometry.polygons_to_mask(polygons, image.height, image.width)
    return {"polygons": polygons, "rle": geometry.mask_to_rle(mask), "bbox": [x, y, w, h],
            "area": w * h}  # fmt: skip


def _shape(
    *, image: Image, kind: str, polygons: Any = None, rle: Any = None, bbox: Any = None
) -> dict[str, Any]:
    """The stored geometry of an object of `kind` from what the caller sent."""
    if kind == Annotation.Kind.BOX:
        if polygons is not None or rle is not None:
            raise Invalid("A box is given by its bbox [x, y, w, h], not polygons or rle.")
        return {"kind": kind, **_box_geometry(image=image, bbox=bbox)}
    if kind != Annotation.Kind.MASK:
        raise Invalid(f"Unknown kind {kind!r}; one of {', '.join(Annotation.Kind.values)}.")
    if bbox is not None:
        raise Invalid("A mask's bbox follows from its polygons or rle; send those instead.")
    return {"kind": kind, **_geometry(image=image, polygons=polygons, rle=rle)}


def _check_label(image: Image, label: Label) -> None:
    if label.project_id != image.project_id:
        raise Invalid("The label belongs to another project.")
    if label.kind != Label.Kind.OBJECT:
        raise Invalid(
            f"{label.name!r} is an image tag, not an object label: set it on the image "
            "(POST images/{id}/tags/{label_id}) instead."
        )


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
    kind: str = "mask",
    bbox: Any = None,
    attributes: Any = None,
) -> Annotation:
    _check_label(image, label)
    # The lock and status as they are now: the caller's copy of the image may predate a lock
    # taken or a decision made since.
    image.refresh_from_db(fields=["locked_by", "locked_until", "status"])
    check_not_locked_by_other(image, created_by)
    check_writable(image=image, user=created_by)
    if source not in Annotation.Source.values:
        raise Invalid(f"Unknown source {source!r}.")
    shape = _shape(image=image, kind=kind, polygons=polygons, rle=rle, bbox=bbox)
    values = attribute_values(label=label, values=attributes)
    with transaction.atomic():
        image_start_if_open(image=image, user=created_by)
        annotation = Annotation.objects.create(
            image=image,
            label=label,
            source=source,
            score=score,
            prompts=prompts or {},
            attributes=values,
            created_by=created_by,
            updated_by=created_by,
            **shape,
        )
        version_record(
            annotation=annotation, action=AnnotationVersion.Action.CREATE, user=created_by
        )
    return annotation


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
    kind: str | None = None,
    bbox: Any = None,
    attributes: Any = None,
) -> Annotation:
    """Update if nobody changed the annotation since `version` was read; else Conflict (409).

    The version check and the write are one UPDATE ... WHERE version = %s, so of two clients
    holding the same version exactly one wins, whatever the database's isolation level.
    """
    image = annotation.image
    check_not_locked_by_other(image, updated_by)
    check_writable(image=image, user=updated_by)
    changes: dict[str, Any] = {}
    if label is not None:
        _check_label(image, label)
        changes["label"] = label
    # A box turned into a mask (box to SAM mask) keeps its id, label and attributes.
    new_kind = kind or annotation.kind
    if new_kind != annotation.kind or polygons is not None or rle is not None or bbox is not None:
        if new_kind == Annotation.Kind.BOX and bbox is None and polygons is None and rle is None:
            bbox = annotation.bbox  # a mask made a box again: the mask's box
        if new_kind == Annotation.Kind.MASK and polygons is None and rle is None:
            raise Invalid("Turning a box into a mask needs the mask's polygons or rle.")
        changes.update(_shape(image=image, kind=new_kind, polygons=polygons, rle=rle, bbox=bbox))
    if attributes is not None or label is not None:
        changes["attributes"] = attribute_values(
            label=label or annotation.label, values=attributes, current=annotation.attributes
        )
    if score is not None:
        changes["score"] = score
    if prompts is not None:
        changes["prompts"] = prompts
    return annotation_write_versioned(
        annotation=annotation, version=version, user=updated_by, changes=changes,
        action=AnnotationVersion.Action.UPDATE,
    )  # fmt: skip


def annotation_write_versioned(
    *,
    annotation: Annotation,
    version: int,
    user: User,
    changes: dict[str, Any],
    action: str,
    reverted_to: int | None = None,
) -> Annotation:
    """The one conditional write of an edit (a PATCH; a revert, services/revert.py), recorded
    as a version."""
    image = annotation.image
    # What it was, if the caller's copy is the version it names (else the history lists the
    # fields the caller sent): the diff needs no read of its own.
    before = snapshot(annotation) if annotation.version == version else None
    # The lock and the status are part of the same conditional UPDATE: the image this request
    # loaded may predate a lock someone else took, or an acceptance, since; a check on it alone
    # would let the write in.
    free = _free_and_writable(image=image, user=user)
    with transaction.atomic():
        # In one transaction with the version row: the UPDATE holds the row until the commit, so
        # the state read back below is this write's, not a later one's.
        updated = Annotation.objects.filter(
            pk=annotation.pk, version=version, image__in=free
        ).update(**changes, version=F("version") + 1, updated_by=user, updated_at=timezone.now())
        if not updated:
            _raise_why_not_written(annotation=annotation, version=version, user=user)
        image_start_if_open(image=image, user=user)
        annotation.refresh_from_db()
        if before is None:
            before = {**snapshot(annotation), **{name: object() for name in changes}}
        version_record(
            annotation=annotation, action=action, user=user, before=before,
            reverted_to=reverted_to,
        )  # fmt: skip
    return annotation


def _raise_why_not_written(*, annotation: Annotation, version: int | None, user: User) -> None:
    """A conditional write matched no row: say whether the annotation is gone (404), its image
    locked by someone else (423) or its version moved on (409, with the current version)."""
    current = Annotation.objects.filter(pk=annotation.pk).values_list("version", flat=True).first()
    if current is None:
        raise NotFound("The annotation was deleted meanwhile.")
    image = Image.objects.get(pk=annotation.image_id)
    check_not_locked_by_other(image, user)
    check_writable(image=image, user=user)
    raise Conflict(
        f"The annotation changed since version {version} "
        f"(now version {current}); reload it and apply your change again.",
        current_version=current,
    )


def annotation_delete(
    *, annotation: Annotation, deleted_by: User, version: int | None = None
) -> None:
    check_not_locked_by_other(annotation.image, deleted_by)
    check_writable(image=annotation.image, user=deleted_by)
    free = _free_and_writable(image=annotation.image, user=deleted_by)
    qs = Annotation.objects.filter(pk=annotation.pk, image__in=free)
    if version is not None:
        qs = qs.filter(version=version)
    with transaction.atomic():
        # Claimed by one conditional UPDATE first: a delete that cascades (review issues pin
        # annotations) is a SELECT then a DELETE by id, which an update committed in between
        # would not stop. The claim takes the row's write lock and moves its version, so a
        # racing update either finished before (this matches nothing: 409) or finds it gone.
        if not qs.update(version=F("version") + 1):
            _raise_why_not_written(annotation=annotation, version=version, user=deleted_by)
        # Read then deleted as an instance: the same SELECT the queryset's cascading delete
        # made, and it gives the history the row exactly as the claim left it.
        claimed = Annotation.objects.get(pk=annotation.pk)
        claimed.delete()
        claimed.pk = annotation.pk  # delete() clears it; the history keeps the id
        version_record(annotation=claimed, action=AnnotationVersion.Action.DELETE, user=deleted_by)
        image_start_if_open(image=annotation.image, user=deleted_by)


def _free_and_writable(*, image: Image, user: User) -> QuerySet[Image]:
    """The image, if nobody else holds its lock and its status lets `user` write."""
    statuses = writable_statuses(image=image, user=user)
    return Image.objects.filter(free_for(user)).filter(pk=image.pk, status__in=statuses)


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
        image.refresh_from_db(fields=["locked_by", "locked_until", "status"])
        check_not_locked_by_other(image, user)
        check_writable(image=image, user=user)
        if delete_versions is None:
            rows = list(found)
            # The rows read above, deleted as instances: the queryset's own delete would read
            # them again (review issues point at annotations, so it cannot delete blind).
            ids = [row.pk for row in rows]
            collector = Collector(using=found.db)
            collector.collect(rows)
            collector.delete()
            for row, pk in zip(rows, ids, strict=True):
                row.pk = pk  # delete() clears it; the history keeps the id
            versions_record_deleted(annotations=rows, user=user)
        else:
            deleted = _bulk_delete_read_versions(
                found, dict(zip(delete, delete_versions, strict=True))
            )
            versions_record_deleted(annotations=deleted, user=user)
        image_start_if_open(image=image, user=user)
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
                    kind=item.get("kind", Annotation.Kind.MASK),
                    bbox=item.get("bbox"),
                    attributes=item.get("attributes"),
                )
            )
        except ServiceError as exc:
            raise type(exc)(f"create[{index}]: {exc}") from None
    return created


def _bulk_delete_read_versions(
    found: QuerySet[Annotation], read: dict[int, int]
) -> list[Annotation]:
    """Delete each annotation only at the version its id was read with; else Conflict, and the
    caller's transaction takes back whatever this request did. Returns the rows deleted, as
    they were (a row deleted at the version read is the row read)."""
    rows = list(found)
    current = {row.pk: row.version for row in rows}
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
            return rows
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
