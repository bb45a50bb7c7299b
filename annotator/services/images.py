"""An image's workflow: status, assignee, review, deletion."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from annotator.models import Image
from annotator.services.errors import Conflict, Invalid, User
from annotator.services.projects import files_delete

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
    transaction.on_commit(lambda: files_delete(files=[(storage, f) for f in files]))
