"""Who may spend the shared machines, and how much ("Hardening, round two", 4).

The policies answer 403 (creating a project when PROJECT_CREATORS is `staff`, a checkpoint
outside SAM_CHECKPOINTS_OFFERED); the quotas 413 for what a project stores (its images and
their bytes: an upload is refused whole) and 429 with Retry-After for queued work (jobs
waiting or running, per user and per project), which finishing work frees. The limits are
settings (webapp/settings.py, README "Security"); 0 turns a quota off.

A quota is checked in the transaction that adds the rows, after taking a lock that every
writer of the same project takes first, so two uploads (or two jobs) racing for the last slot
cannot both pass: on SQLite the lock is the database's single writer (the first statement is a
write, so the transaction waits for the lock instead of failing with "database is locked"), on
PostgreSQL the project's row (and for jobs the user's row), held until commit.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count, F, Sum

from annotator.models import Image, Job, Project, SamModel
from annotator.services.errors import Forbidden, Invalid, QuotaExceeded, TooLarge, User

# annotator.sam.KNOWN_CHECKPOINTS' names, repeated because the web process never imports torch
# (tests/security/test_hostile_inputs.py keeps the two equal).
# SAM 2 / 2.1 by Meta's file names: annotator.sam2.SAM2_CHECKPOINTS without Ultralytics' aliases
# (which are auto_annotate's), kept equal by the same test.
SAM2_CHECKPOINT_NAMES = tuple(
    f"{prefix}_hiera_{size}.pt"
    for prefix in ("sam2.1", "sam2")
    for size in ("tiny", "small", "base_plus", "large")
)
KNOWN_CHECKPOINT_NAMES = (
    "mobile_sam",
    "sam_vit_b",
    "sam_vit_h",
    "sam_vit_l",
    *SAM2_CHECKPOINT_NAMES,
)
QUEUED = (Job.Status.PENDING, Job.Status.RUNNING)


def _is_staff(user: User) -> bool:
    return bool(getattr(user, "is_staff", False))


def project_create_allowed(*, user: User) -> None:
    if settings.PROJECT_CREATORS == "staff" and not _is_staff(user):
        raise Forbidden("Only staff can create projects here (PROJECT_CREATORS=staff).")


def checkpoints_offered(*, user: User) -> list[str]:
    """The checkpoints `user` may give a new project: staff any known or registered one;
    everyone else SAM_CHECKPOINT, SAM_CHECKPOINTS_OFFERED and the checkpoints an administrator
    registered that are not one of the known downloads (a path or URL only the admin sets)."""
    registered = list(SamModel.objects.values_list("checkpoint", flat=True))
    if _is_staff(user):
        return sorted({*KNOWN_CHECKPOINT_NAMES, *registered})
    custom = [name for name in registered if name not in KNOWN_CHECKPOINT_NAMES]
    return sorted({settings.SAM_CHECKPOINT, *settings.SAM_CHECKPOINTS_OFFERED, *custom})


def checkpoint_allowed(*, user: User, checkpoint: str | None) -> None:
    """Refuse (Forbidden) a known download outside the offered ones. Any other name is a path
    or URL, which the API takes only when an administrator registered it (the serializer), and
    which commands and the admin give on purpose."""
    if checkpoint is None or checkpoint == settings.SAM_CHECKPOINT:
        return
    if checkpoint not in KNOWN_CHECKPOINT_NAMES:
        return
    offered = checkpoints_offered(user=user)
    if checkpoint not in offered:
        raise Forbidden(
            f"Checkpoint {checkpoint!r} is not offered here (SAM_CHECKPOINTS_OFFERED); "
            f"choose one of {', '.join(offered)} or ask an administrator.",
            offered=offered,
        )


def project_lock(*, project: Project) -> None:
    """Serialise the writers of one project's quota until the transaction ends (see the
    module's docstring): a write that changes nothing."""
    Project.objects.filter(pk=project.pk).update(name=F("name"))


def upload_quota_check(*, project: Project) -> None:
    """Inside the upload's transaction, after its images are inserted: refuse (TooLarge) if
    the project now holds more than its quota."""
    limit_images, limit_bytes = settings.QUOTA_PROJECT_IMAGES, settings.QUOTA_PROJECT_BYTES
    if not limit_images and not limit_bytes:
        return
    project_lock(project=project)
    totals = Image.objects.filter(project=project).aggregate(n=Count("pk"), size=Sum("file_size"))
    count, size = totals["n"] or 0, totals["size"] or 0
    if limit_images and count > limit_images:
        raise TooLarge(
            f"The project would hold {count} images; its quota is {limit_images} "
            "(QUOTA_PROJECT_IMAGES). Delete images or ask an administrator.",
            quota="images",
            limit=limit_images,
        )
    if limit_bytes and size > limit_bytes:
        raise TooLarge(
            f"The project would store {size} bytes of images; its quota is {limit_bytes} "
            "(QUOTA_PROJECT_BYTES). Delete images or ask an administrator.",
            quota="bytes",
            limit=limit_bytes,
        )


def job_quota_check(*, project: Project, user: User) -> None:
    """In the job's creating transaction, before its row: refuse (QuotaExceeded, 429) one job
    more than the user's or the project's queued-work quota."""
    per_user, per_project = settings.QUOTA_USER_QUEUED_JOBS, settings.QUOTA_PROJECT_QUEUED_JOBS
    if not per_user and not per_project:
        return
    project_lock(project=project)
    if per_user and connection.features.has_select_for_update:
        # A user's jobs span projects: on PostgreSQL their row is the lock (SQLite's writer
        # lock, taken above, already covers the whole database).
        list(get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk"))
    retry = settings.QUOTA_RETRY_AFTER
    if per_user:
        mine = Job.objects.filter(created_by_id=user.pk, status__in=QUEUED).count()
        if mine >= per_user:
            raise QuotaExceeded(
                f"You have {mine} jobs waiting or running; at most {per_user} at once "
                "(QUOTA_USER_QUEUED_JOBS). Start this one when one of them has finished.",
                retry_after=retry,
            )
    if per_project:
        queued = Job.objects.filter(project=project, status__in=QUEUED).count()
        if queued >= per_project:
            raise QuotaExceeded(
                f"The project has {queued} jobs waiting or running; at most {per_project} at "
                "once (QUOTA_PROJECT_QUEUED_JOBS). Start this one when one has finished.",
                retry_after=retry,
            )


def everything_cost_check(*, params: dict[str, Any], defaults: dict[str, Any]) -> None:
    """Everything mode prompts points_per_side squared points on the image and on each crop
    (1, 4, 16 ... crops per layer); each range alone is fine, the product is what a worker
    pays, and is bounded by JOB_MAX_EVERYTHING_PROMPTS."""
    side = params.get("points_per_side", defaults.get("points_per_side", 32))
    layers = params.get("crop_n_layers", defaults.get("crop_n_layers", 0))
    prompts = int(side) ** 2 * sum(4**i for i in range(int(layers) + 1))
    limit = settings.JOB_MAX_EVERYTHING_PROMPTS
    if prompts > limit:
        raise Invalid(
            f"points_per_side={side} with crop_n_layers={layers} is {prompts} prompts per "
            f"image; at most {limit} (JOB_MAX_EVERYTHING_PROMPTS)."
        )


def inline_boxes_check(*, boxes: dict[str, Any]) -> None:
    """Inline auto-annotation boxes, counted before each is checked (a million boxes would
    cost the web process the checking, and a worker a prompt each)."""
    total = sum(len(items) if isinstance(items, list) else 1 for items in boxes.values())
    limit = settings.JOB_MAX_INLINE_BOXES
    if total > limit:
        raise Invalid(f"`boxes` holds {total} boxes; at most {limit} (JOB_MAX_INLINE_BOXES).")
