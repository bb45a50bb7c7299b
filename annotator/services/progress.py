"""What a job runner reports its progress through (annotator.services.jobs passes one in)."""

from __future__ import annotations

from typing import Protocol

from django.db.models import QuerySet

from annotator.models import Image, Job


class Progress(Protocol):
    def __call__(self, *, done: int, total: int) -> None: ...


class Runner(Protocol):
    """Runs one kind of job over its images; raises to fail it (the message is kept)."""

    def __call__(self, *, job: Job, images: QuerySet[Image], progress: Progress) -> None: ...
