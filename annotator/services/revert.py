"""Revert an annotation to a version of its history (services/history.py records them): the
same conditional write as an edit, or, for a deleted annotation, its restore under its id."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from annotator.models import Annotation, AnnotationVersion, Image
from annotator.services.annotations import annotation_write_versioned
from annotator.services.errors import Conflict, Invalid, NotFound, User
from annotator.services.history import version_record
from annotator.services.locks import check_not_locked_by_other
from annotator.services.review import check_writable, image_start_if_open


def annotation_revert(
    *, image: Image, annotation_id: int, to: int, user: User, version: int | None = None
) -> Annotation:
    """Make version `to` of an annotation of `image` its current state, as a new version.

    An annotation that still exists is written like a PATCH: `version` is the one the caller
    read, a stale one gets 409, and the image's lock and review status apply. A deleted one is
    restored under its id, as a new version after its delete (`version`, if given, must be the
    delete's: someone may have restored it already).
    """
    target = AnnotationVersion.objects.filter(
        image=image, annotation_id=annotation_id, version=to
    ).first()
    if target is None:
        raise NotFound(f"Annotation {annotation_id} of this image has no version {to}.")
    fields = dict(target.snapshot)
    label = image.project.labels.filter(pk=fields.pop("label")).first()
    if label is None:
        raise Invalid(
            f"The label of version {to} was deleted from the project; create the label again "
            "or change the annotation's label instead."
        )
    fields["label"] = label
    current = Annotation.objects.filter(pk=annotation_id, image=image).first()
    if current is not None:
        if version is None:
            raise Invalid("Give the annotation's `version` you read, as for an edit.")
        check_not_locked_by_other(image, user)
        check_writable(image=image, user=user)
        return annotation_write_versioned(
            annotation=current, version=version, user=user, changes=fields,
            action=AnnotationVersion.Action.REVERT, reverted_to=to,
        )  # fmt: skip
    return _restore(image=image, annotation_id=annotation_id, fields=fields, to=to, user=user,
                    version=version)  # fmt: skip


def _restore(
    *,
    image: Image,
    annotation_id: int,
    fields: dict[str, Any],
    to: int,
    user: User,
    version: int | None,
) -> Annotation:
    """Insert a deleted annotation again under its id, checked like a create."""
    image.refresh_from_db(fields=["locked_by", "locked_until", "status"])
    check_not_locked_by_other(image, user)
    check_writable(image=image, user=user)
    last = (
        AnnotationVersion.objects.filter(annotation_id=annotation_id)
        .order_by("-version")
        .values_list("version", flat=True)
        .first()
    )
    assert last is not None  # `to` is one of them
    if version is not None and version != last:
        raise Conflict(
            f"The annotation's history moved on since version {version} (now version {last}); "
            "reload it.",
            current_version=last,
        )
    try:
        with transaction.atomic():
            image_start_if_open(image=image, user=user)
            annotation = Annotation.objects.create(
                pk=annotation_id, image=image, version=last + 1, created_by=user,
                updated_by=user, **fields,
            )  # fmt: skip
            version_record(
                annotation=annotation, action=AnnotationVersion.Action.REVERT, user=user,
                reverted_to=to,
            )  # fmt: skip
    except IntegrityError:
        # Another revert restored it first (the id, or its next version, is taken).
        raise Conflict(
            "The annotation was restored meanwhile; reload the image's annotations.",
        ) from None
    return annotation
