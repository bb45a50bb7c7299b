"""The edit lock on an image: who may change its annotations, until when."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from annotator.models import Image
from annotator.services.errors import Locked, User


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
        raise Locked(_held_by(image))
    return image


def image_unlock(*, image: Image, user: User, force: bool = False) -> Image:
    qs = Image.objects.filter(pk=image.pk)
    if not force:
        qs = qs.filter(locked_by=user)
    qs.update(locked_by=None, locked_until=None)
    image.refresh_from_db(fields=["locked_by", "locked_until"])
    return image


def free_for(user: User) -> Q:
    """Images nobody else holds a live lock on, as a filter on Image."""
    return (
        Q(locked_by__isnull=True)
        | Q(locked_by=user)
        | Q(locked_until__isnull=True)
        | Q(locked_until__lte=timezone.now())
    )


def check_not_locked_by_other(image: Image, user: User) -> None:
    if (
        image.locked_by_id is not None
        and image.locked_by_id != user.pk
        and image.locked_until is not None
        and image.locked_until > timezone.now()
    ):
        raise Locked(_held_by(image))


def _held_by(image: Image) -> str:
    # Says what to do as well: the lock ends by itself (the page renews it while open), or its
    # holder releases it by closing the image.
    return (
        f"The image is being edited by {image.locked_by} until {image.locked_until}; try again "
        "after that, or ask them to close the image (which releases it)."
    )
