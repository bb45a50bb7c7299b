"""What a job runner reports its progress through (annotator.services.jobs passes one in)."""

from __future__ import annotations

from typing import Protocol

from django.db.models import QuerySet

from annotator.models import Image, Job
from annotator.services.errors import ServiceError
from annotator.services.review import check_writable


class Progress(Protocol):
    def __call__(self, *, done: int, total: int) -> None: ...


class Runner(Protocol):
    """Runs one kind of job over its images; raises to fail it (the message is kept)."""

    def __call__(self, *, job: Job, images: QuerySet[Image], progress: Progress) -> None: ...


def job_skip_if_held(*, job: Job, image: Image) -> bool:
    """Whether the runner must leave the image alone because its review status bars the job's
    creator from writing (accepted; submitted, unless they review), recording why in
    `job.skipped`: checked before the model runs, so a held image costs no SAM work and is
    never skipped silently. Someone else's edit lock does not stop a job: it writes proposals,
    not annotations, and the lock holder may keep them (a `keep_above` keep is refused there
    and counted instead: services/proposals.py)."""
    if job.created_by is None:
        reason = "The user who started this job was removed; start it again."
    else:
        image.refresh_from_db(fields=["locked_by", "locked_until", "status"])
        try:
            check_writable(image=image, user=job.created_by)
            return False
        except ServiceError as exc:
            reason = str(exc)
    job.skipped.append({"image": image.pk, "name": image.original_name, "reason": reason})
    Job.objects.filter(pk=job.pk).update(skipped=job.skipped)
    return True
