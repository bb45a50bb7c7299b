"""Reads: querysets scoped to what a user may see."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, QuerySet

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
