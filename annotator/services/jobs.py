"""Jobs: created (their params checked) and published by the web process, run by a worker.

A job kind is one runner in RUNNERS; the runner gets the job, its images and a progress
callback, and knows nothing of this module (it only does the work; the row's status, lease and
outcome are kept here).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from annotator import leases, queue, selectors
from annotator.models import Job, Project
from annotator.services.auto_annotate import auto_annotate_run
from annotator.services.errors import Conflict, Forbidden, Invalid, Unavailable, User
from annotator.services.everything import everything_run
from annotator.services.exports import export_run
from annotator.services.job_params import job_params_check
from annotator.services.locks import check_not_locked_by_other
from annotator.services.progress import Runner
from annotator.services.quotas import job_quota_check
from annotator.services.text_prompts import text_run

log = logging.getLogger(__name__)

RUNNERS: dict[str, Runner] = {
    Job.Kind.EXPORT: export_run,
    Job.Kind.EVERYTHING: everything_run,
    Job.Kind.AUTO_ANNOTATE: auto_annotate_run,
    Job.Kind.TEXT: text_run,
}
# Kinds that load the model run on the `gpu` queue, next to the embedding work.
MODEL_KINDS = {Job.Kind.EVERYTHING, Job.Kind.AUTO_ANNOTATE, Job.Kind.TEXT}


def job_create(
    *,
    project: Project,
    kind: str,
    created_by: User,
    params: dict[str, Any] | None = None,
    retry_of: Job | None = None,
    limited: bool = False,
) -> Job:
    """`limited`: the caller annotates but does not manage the project, so they may start only
    everything mode, on the one image they hold, within lower bounds."""
    if kind not in Job.Kind.values:
        raise Invalid(f"Unknown job kind {kind!r}; one of {', '.join(Job.Kind.values)}.")
    params = params or {}
    if limited and kind != Job.Kind.EVERYTHING:
        raise Forbidden(
            "Your role in this project may start only everything mode on the image you hold; "
            "other jobs are a manager's."
        )
    job_params_check(project=project, kind=kind, params=params, limited=limited)
    if limited:
        _check_held_image(project=project, user=created_by, params=params)
    with transaction.atomic():
        job_quota_check(project=project, user=created_by)
        job = Job.objects.create(
            project=project, kind=kind, params=params, created_by=created_by, retry_of=retry_of
        )
    queue_name = "gpu" if kind in MODEL_KINDS else "default"
    if transaction.get_connection().in_atomic_block:
        # The caller's transaction (an import) decides whether the job exists; a worker must not
        # see it before then. A broker failure after that commit can no longer become the
        # request's answer, so it fails the job with a reason the user can act on.
        transaction.on_commit(lambda: _job_publish_or_fail(job, queue_name))
    elif not queue.send(queue.JOB_RUN, [job.pk], queue=queue_name):
        # Nothing would ever run a job that no queue holds: refuse it instead of keeping a row
        # that stays pending forever.
        job.delete()
        raise Unavailable("The task queue (Celery broker) is unavailable; try again later.")
    return job


def _check_held_image(*, project: Project, user: User, params: dict[str, Any]) -> None:
    ids = params.get("image_ids")
    if not isinstance(ids, list) or len(ids) != 1:
        raise Invalid("Give `image_ids`: the one image you hold (its edit lock).")
    image = project.images.filter(pk=ids[0]).first()
    if image is None:
        raise Invalid(f"Image {ids[0]} is not in this project.")
    check_not_locked_by_other(image, user)
    if (
        image.locked_by_id != user.pk
        or not image.locked_until
        or image.locked_until <= timezone.now()
    ):
        raise Forbidden(
            "Take the image's edit lock first (open it in the annotation page, or POST "
            f"/api/images/{image.pk}/lock): everything mode runs on the image you hold."
        )


def _job_publish_or_fail(job: Job, queue_name: str) -> None:
    if not queue.send(queue.JOB_RUN, [job.pk], queue=queue_name):
        Job.objects.filter(pk=job.pk, status=Job.Status.PENDING).update(
            status=Job.Status.FAILED,
            error="The task queue (Celery broker) was unavailable; start the job again.",
        )


def job_progress(*, job: Job, done: int, total: int) -> None:
    Job.objects.filter(pk=job.pk).update(done=done, total=total)


def job_run(*, job: Job) -> Job:
    """Run a job to completion in this process (called by the worker's job_run_task)."""
    holder = leases.holder_id()
    claimed = Job.objects.filter(pk=job.pk, status=Job.Status.PENDING).update(
        status=Job.Status.RUNNING, worker=holder, lease_expires_at=leases.lease_end()
    )
    if not claimed:
        # Already running or finished: a redelivered task does nothing, except notice that the
        # worker it was redelivered from died (a prefork child killed mid-job).
        job_release_lost(ids=[job.pk])
        job.refresh_from_db()
        return job
    job.refresh_from_db()
    log.info("job %s (%s) started by %s", job.pk, job.kind, holder)
    with leases.heartbeat(Job, [job.pk], holder):
        _job_execute(job)
    job.finished_at = timezone.now()
    job.worker, job.lease_expires_at = "", None
    job.save(
        update_fields=["status", "error", "result", "finished_at", "worker", "lease_expires_at"]
    )
    return job


def job_release_lost(*, ids: Sequence[int] | None = None) -> list[int]:
    """Fail the running jobs whose worker is gone (see annotator.leases). They are not run
    again by themselves: a job may have created part of its proposals, and a second run would
    add them twice; the error says how far it got, and the user starts it again."""
    running = Job.objects.filter(status=Job.Status.RUNNING)
    if ids is not None:
        running = running.filter(pk__in=ids)
    stale = timezone.now() - timedelta(seconds=settings.EMBEDDING_LEASE_SECONDS)
    failed = []
    for job in leases.lost(running, unleased=Q(created_at__lt=stale)):
        holder = job.worker or "an unknown worker"
        error = (
            f"The worker running this job ({holder}) stopped after {job.done} of {job.total} "
            "images; what it created is kept. Start the job again for the rest."
        )
        changed = Job.objects.filter(
            pk=job.pk, status=Job.Status.RUNNING, worker=job.worker
        ).update(
            # A cancel asked of a job whose worker then died: what the user asked for happened.
            status=Job.Status.CANCELLED if job.cancel_requested else Job.Status.FAILED,
            error=error,
            worker="",
            lease_expires_at=None,
            finished_at=timezone.now(),
        )
        if changed:
            failed.append(job.pk)
            log.warning("job %s: %s", job.pk, error)
    return failed


class JobCancelled(Exception):
    """Raised through a runner by its progress callback when the job's row asks it to stop."""


def _job_execute(job: Job) -> None:
    """Run the job's kind; its outcome (done, failed with the reason, or cancelled) is set on
    `job`."""

    def progress(*, done: int, total: int) -> None:
        job_progress(job=job, done=done, total=total)
        # Runners report between images: the one place where stopping leaves no half-written
        # image. The flag is read from the row, so a cancel from any web process reaches here.
        if Job.objects.filter(pk=job.pk, cancel_requested=True).exists():
            raise JobCancelled(
                f"Cancelled after {done} of {total} images; what it created is kept."
            )

    try:
        RUNNERS[job.kind](job=job, images=selectors.job_images(job=job), progress=progress)
    except JobCancelled as exc:
        job.status = Job.Status.CANCELLED
        job.error = str(exc)
    except Exception as exc:  # noqa: BLE001 - recorded on the row, where the user sees it
        job.status = Job.Status.FAILED
        job.error = f"{type(exc).__name__}: {exc}"
    else:
        job.status = Job.Status.DONE


def job_cancel(*, job: Job) -> Job:
    """Stop a job: a pending one is cancelled at once and never starts (job_run claims only
    pending rows); a running one is flagged, and its worker stops before its next image.
    A finished job is a Conflict."""
    now = timezone.now()
    if Job.objects.filter(pk=job.pk, status=Job.Status.PENDING).update(
        status=Job.Status.CANCELLED,
        cancel_requested=True,
        error="Cancelled before it started.",
        finished_at=now,
    ):
        job.refresh_from_db()
        return job
    Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(cancel_requested=True)
    job.refresh_from_db()
    if job.status != Job.Status.RUNNING:
        raise Conflict(f"Job {job.pk} is already {job.status}; there is nothing to cancel.")
    return job


def job_retry(*, job: Job, by: User) -> Job:
    """Run a failed or cancelled job again, as a new job with the same kind and params (the old
    row keeps its error; the new one points back at it through `retry_of`). Its params are
    checked again: the project may have changed since (a label deleted)."""
    if job.status not in (Job.Status.FAILED, Job.Status.CANCELLED):
        raise Conflict(f"Job {job.pk} is {job.status}; only a failed or cancelled job is retried.")
    return job_create(
        project=job.project, kind=job.kind, created_by=by, params=dict(job.params), retry_of=job
    )
