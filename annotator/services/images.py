"""An image's assignee and deletion (its status: services/review.py)."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from annotator.models import Image
from annotator.models.images import thumbnail_name
from annotator.services.errors import Invalid, User
from annotator.services.projects import files_delete


def image_update(*, image: Image, assignee: User | None) -> Image:
    """Assign the image (None: to nobody). Its status moves only through
    annotator/services/review.py's state machine."""
    if assignee is not None and not image.project.memberships.filter(user=assignee).exists():
        raise Invalid("The assignee is not a member of the project.")
    image.assignee = assignee if isinstance(assignee, AbstractBaseUser) else None
    image.save(update_fields=["assignee", "updated_at"])
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
    files.append(thumbnail_name(image.project_id, image.sha256))
    image.delete()
    storage = image.file.storage
    transaction.on_commit(lambda: files_delete(files=[(storage, f) for f in files]))
