"""Reads: querysets scoped to what a user may see."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from annotator.models import Annotation, Embedding, Image, Job, Label, Membership, Project

User = AbstractBaseUser | AnonymousUser


def project_list(*, user: User) -> QuerySet[Project]:
    return Project.objects.filter(memberships__user_id=user.pk).select_related("sam_model")


def image_list(*, project: Project, filters: dict[str, object] | None = None) -> QuerySet[Image]:
    qs = project.images.select_related("assignee", "locked_by").annotate(
        annotation_count=Count("annotations")
    )
    filters = filters or {}
    if filters.get("status"):
        qs = qs.filter(status=filters["status"])
    if filters.get("assignee"):
        qs = qs.filter(assignee_id=filters["assignee"])
    return qs


# Images that still need an annotator's work.
OPEN_STATUSES = ("new", "in_progress", "rejected")


def image_next_for(*, project: Project, user: User, after: int | None = None) -> Image | None:
    """The next image for `user` to work on: assigned to them or to nobody, still open, not
    locked by someone else; the first one after `after` (by id), wrapping around."""
    now = timezone.now()
    qs = (
        project.images.filter(status__in=OPEN_STATUSES)
        .filter(Q(assignee_id=user.pk) | Q(assignee__isnull=True))
        .exclude(Q(locked_until__gt=now) & ~Q(locked_by_id=user.pk))
        .order_by("id")
    )
    if after is not None:
        following = qs.filter(pk__gt=after).first()
        if following is not None:
            return following
        return qs.exclude(pk=after).first()
    # Own assignments first: a manager's assignment is a request.
    return qs.filter(assignee_id=user.pk).first() or qs.first()


def images_visible_to(*, user: User) -> QuerySet[Image]:
    return Image.objects.filter(project__memberships__user_id=user.pk).select_related(
        "project", "project__sam_model"
    )


def annotations_visible_to(*, user: User) -> QuerySet[Annotation]:
    return Annotation.objects.filter(image__project__memberships__user_id=user.pk).select_related(
        "image", "image__project"
    )


def jobs_visible_to(*, user: User) -> QuerySet[Job]:
    return Job.objects.filter(project__memberships__user_id=user.pk).select_related("project")


def label_list(*, project: Project) -> QuerySet[Label]:
    return project.labels.all()


def membership_list(*, project: Project) -> QuerySet[Membership]:
    return project.memberships.select_related("user")


def embedding_for_image(*, image: Image) -> Embedding | None:
    """The embedding of the image under its project's current model, if one was requested."""
    return Embedding.objects.filter(image=image, sam_model_id=image.project.sam_model_id).first()


def embedding_status_counts(*, project: Project) -> dict[str, int]:
    rows = (
        Embedding.objects.filter(image__project=project, sam_model_id=project.sam_model_id)
        .values("status")
        .annotate(n=Count("id"))
    )
    return {row["status"]: row["n"] for row in rows}
