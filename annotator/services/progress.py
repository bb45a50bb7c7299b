"""What a job runner reports its progress through (annotator.services.jobs passes one in)."""

from __future__ import annotations

from typing import Protocol

from django.db.models import QuerySet

from annotator.models import Image, Job
from annotator.services.review import image_write_refusal


class Progress(Protocol):
    def __call__(self, *, done: int, total: int) -> None: ...


class Runner(Protocol):
    """Runs one kind of job over its images; raises to fail it (the message is kept)."""

    def __call__(self, *, job: Job, images: QuerySet[Image], progress: Progress) -> None: ...


def job_skip_if_held(*, job: Job, image: Image) -> bool:
    """Whether the runner must leave the image alone (accepted, submitted, locked by someone
    else, by the rules that bind the job's creator), recording why in `job.skipped`: checked
    before the model runs, so a held image costs no SAM work and is never skipped silently."""
    if job.created_by is None:
        reason = "The user who started this job was removed; start it again."
    else:
        refusal = image_write_refusal(image=image, user=job.created_by)
        if refusal is None:
            return False
        reason = str(refusal)
    job.skipped.append({"image": image.pk, "name": image.original_name, "reason": reason})
    Job.objects.filter(pk=job.pk).update(skipped=job.skipped)
    return True
