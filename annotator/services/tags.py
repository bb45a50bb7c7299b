"""Image-level tags: labels of kind "tag" set on or taken off a whole image (classification).

A tag is part of the image's annotation, so it is written under the same rules as an annotation:
not while someone else holds the image's edit lock, not on an accepted image, on a submitted one
only by a reviewer; and tagging a new or rejected image starts it.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from annotator.models import Image, Label
from annotator.services.errors import Invalid, User
from annotator.services.locks import check_not_locked_by_other, free_for
from annotator.services.review import check_writable, image_start_if_open, writable_statuses


def image_tag_set(*, image: Image, label: Label, user: User, on: bool) -> list[int]:
    """Set (`on`) or unset the tag `label` on the image; returns the image's tag ids after.
    Idempotent: setting a tag the image has, or unsetting one it lacks, changes nothing."""
    if label.project_id != image.project_id:
        raise Invalid("The label belongs to another project.")
    if label.kind != Label.Kind.TAG:
        raise Invalid(
            f"{label.name!r} is an object label: it names annotations, not images. "
            "Tag an image with a label of kind 'tag'."
        )
    image.refresh_from_db(fields=["locked_by", "locked_until", "status"])
    check_not_locked_by_other(image, user)
    check_writable(image=image, user=user)
    with transaction.atomic():
        # The claim is one conditional UPDATE on the lock and the status, as annotation writes
        # are: a lock taken or a decision made since the checks above makes it match nothing.
        claimed = (
            Image.objects.filter(free_for(user))
            .filter(pk=image.pk, status__in=writable_statuses(image=image, user=user))
            .update(updated_at=timezone.now())
        )
        if not claimed:
            image.refresh_from_db(fields=["locked_by", "locked_until", "status"])
            check_not_locked_by_other(image, user)
            check_writable(image=image, user=user)
        if on:
            image.tags.add(label)
        else:
            image.tags.remove(label)
    image_start_if_open(image=image, user=user)
    return sorted(image.tags.values_list("id", flat=True))
