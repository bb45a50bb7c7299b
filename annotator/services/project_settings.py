"""A project's settings beyond its name: the labels' order, archiving, and what deleting it
would take with it."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from annotator.models import Annotation, Label, Project
from annotator.services.errors import Conflict, Invalid


class Archived(Conflict):
    """A write to an archived project. 409: the request is fine, the project's state is not."""


def project_writable(*, project: Project) -> None:
    """Raise Archived when the project is archived. The API calls it for every write it takes
    (annotator/api/views/base.py); reads, exports and the settings that undo it stay open."""
    if project.archived_at is not None:
        raise Archived(
            f"The project “{project.name}” is archived: unarchive it in settings to change it.",
            archived_at=project.archived_at.isoformat(),
        )


def project_archive(*, project: Project, archived: bool) -> Project:
    """Archive (or unarchive) the project: one conditional UPDATE, so archiving twice keeps
    the first date."""
    rows = Project.objects.filter(pk=project.pk)
    if archived:
        rows.filter(archived_at__isnull=True).update(archived_at=timezone.now())
    else:
        rows.update(archived_at=None)
    project.refresh_from_db(fields=["archived_at"])
    return project


@transaction.atomic
def label_reorder(*, project: Project, label_ids: list[int]) -> list[Label]:
    """Put the labels of `label_ids` first, in that order; the project's other labels follow
    in their current order (so moving one label up names just the labels down to it, and a
    label someone added meanwhile is not lost). An id of no label of the project, or one named
    twice, is refused. One UPDATE per label that moves, in one transaction (at most
    MAX_LABELS)."""
    labels = list(project.labels.select_for_update().order_by("order", "id"))
    by_id = {label.pk: label for label in labels}
    unknown = [pk for pk in label_ids if pk not in by_id]
    if unknown or len(set(label_ids)) != len(label_ids):
        raise Invalid(
            "label_ids names each label of this project at most once"
            + (f"; {unknown[0]} is not one of them." if unknown else ".")
        )
    first = set(label_ids)
    ordered = [by_id[pk] for pk in label_ids] + [lb for lb in labels if lb.pk not in first]
    for position, label in enumerate(ordered):
        if label.order != position:
            Label.objects.filter(pk=label.pk).update(order=position)
            label.order = position
    return ordered


def project_loss(*, project: Project) -> dict[str, Any]:
    """What deleting the project takes with it, for the confirmation: three counts over
    indexed columns."""
    return {
        "images": project.images.count(),
        "annotations": Annotation.objects.filter(image__project=project).count(),
        "members": project.memberships.count(),
        "jobs": project.jobs.count(),
    }
