"""Reads: querysets scoped to what a user may see."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from annotator.models import (
    Annotation,
    Embedding,
    Image,
    Job,
    Label,
    Membership,
    Project,
    SamModel,
)

User = AbstractBaseUser | AnonymousUser


def project_get(*, pk: int) -> Project:
    """A project by id, whoever asks (the admin's actions; the API goes through project_list)."""
    return Project.objects.get(pk=pk)


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


def label_of(*, project: Project, pk: int) -> Label | None:
    return project.labels.filter(pk=pk).first()


def roles_of(*, user: User) -> dict[int, str]:
    """The user's role in each of their projects, by project id."""
    return dict(Membership.objects.filter(user_id=user.pk).values_list("project_id", "role"))


def annotation_list(*, image: Image) -> QuerySet[Annotation]:
    return image.annotations.all()


def job_list(*, project: Project) -> QuerySet[Job]:
    """The project's jobs, newest first."""
    return project.jobs.order_by("-id")


def membership_list(*, project: Project) -> QuerySet[Membership]:
    return project.memberships.select_related("user")


def embedding_for_image(*, image: Image) -> Embedding | None:
    """The embedding of the image under its project's current model, if one was requested."""
    return Embedding.objects.filter(image=image, sam_model_id=image.project.sam_model_id).first()


def embedding_statuses(*, images: list[Image]) -> dict[int, str]:
    """The embedding status of each image (of one project) under its current model."""
    if not images:
        return {}
    model_id = images[0].project.sam_model_id
    rows = Embedding.objects.filter(image__in=images, sam_model_id=model_id)
    return dict(rows.values_list("image_id", "status"))


def embedding_status_counts(*, project: Project) -> dict[str, int]:
    rows = (
        Embedding.objects.filter(image__project=project, sam_model_id=project.sam_model_id)
        .values("status")
        .annotate(n=Count("id"))
    )
    return {row["status"]: row["n"] for row in rows}


def images_for(*, project: Project, params: dict[str, Any]) -> QuerySet[Image]:
    """A project's images narrowed as a job's params say (`status`, `image_ids`), by id."""
    images = project.images.order_by("id")
    if params.get("status"):
        images = images.filter(status__in=params["status"])
    if params.get("image_ids"):
        images = images.filter(pk__in=params["image_ids"])
    return images


def job_images(*, job: Job) -> QuerySet[Image]:
    """The images a job works on: the project's, narrowed by `status` and `image_ids`."""
    return images_for(project=job.project, params=job.params)


def project_stored_files(*, project: Project) -> list[tuple[Any, str]]:
    """(storage, name) of every file a project's rows name: images and embeddings."""
    storage = Image.file.field.storage
    names = list(project.images.values_list("file", flat=True))
    names += list(
        Embedding.objects.filter(image__project=project)
        .exclude(file="")
        .values_list("file", flat=True)
    )
    return [(storage, name) for name in names if name]


def sam_model_visible_to(*, user: User, sha256: str) -> SamModel | None:
    """A model the user may fetch the decoder of: one that a project of theirs uses."""
    return SamModel.objects.filter(sha256=sha256, projects__memberships__user_id=user.pk).first()
