"""Celery tasks: thin wrappers that load a row by id and call the service of the same name.

The web process imports this module to enqueue, so nothing here imports torch at module level:
the worker-side code (annotator.embeddings) is imported inside the task bodies.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Sequence
from typing import Any

from celery import shared_task
from django.conf import settings
from kombu.exceptions import KombuError

log = logging.getLogger(__name__)

# What a publish raises when the broker cannot take a message: kombu wraps a transport's
# connection errors (Redis refused or timed out) in OperationalError; the folder broker raises
# plain OSError (folder gone, unwritable, disk full).
BROKER_ERRORS = (KombuError, OSError)


def send(task: Any, args: Sequence[Any], **options: Any) -> bool:
    """Publish a task; False (logged) when the broker is unavailable, instead of an exception
    that would turn the caller's request into a 500. The publish gives up within seconds
    (CELERY_BROKER_TIMEOUT and the publish retry policy in settings)."""
    try:
        task.apply_async(args=list(args), **options) if options else task.delay(*args)
    except BROKER_ERRORS as exc:
        log.warning("could not enqueue %s: broker unavailable: %s", task.name, exc)
        return False
    return True


def embedding_enqueue(embedding_ids: Sequence[int], *, countdown: float | None = None) -> bool:
    """Enqueue a compute task for the rows and record it on them (`queued_at`). When the
    broker is down the rows stay pending with `queued_at` empty, which the workers' sweep and
    the next GET of the embedding take as "enqueue me again"; returns whether it was sent."""
    from django.utils import timezone

    from annotator.models import Embedding

    ids = list(embedding_ids)
    if not ids:
        return True
    options = {"countdown": countdown} if countdown else {}
    sent = send(embedding_compute_task, [ids], **options)
    rows = Embedding.objects.filter(pk__in=ids, status=Embedding.Status.PENDING)
    rows.update(queued_at=timezone.now() if sent else None)
    return sent


@shared_task(name="annotator.tasks.healthcheck_task", acks_late=False)
def healthcheck_task() -> dict[str, object]:
    """Answers from inside a worker process, so /healthz can prove the whole queue round-trips."""
    return {"hostname": socket.gethostname(), "pid": os.getpid()}


# Routed to the `gpu` queue by CELERY_TASK_ROUTES ("annotator.tasks.embedding_*").
# The rows hold the outcome (status, error, attempts), so no result is stored: with a Redis
# result backend, a task that keeps its result also subscribes to it when sent, which is one
# more server a web request would wait on.
@shared_task(name="annotator.tasks.embedding_compute_task", ignore_result=True)
def embedding_compute_task(embedding_ids: list[int]) -> dict[str, list[int]]:
    from annotator.embeddings import embedding_compute
    from annotator.models import Embedding

    outcome = embedding_compute(embedding_ids=embedding_ids)
    if outcome["retry"]:
        # Retries are counted per row (EMBEDDING_MAX_ATTEMPTS), and back off with them.
        rows = Embedding.objects.filter(pk__in=outcome["retry"])
        attempts = max(rows.values_list("attempts", flat=True), default=1)
        countdown = settings.EMBEDDING_RETRY_DELAY * 2 ** (max(attempts, 1) - 1)
        embedding_enqueue(outcome["retry"], countdown=countdown)
    return outcome


# The Job row holds the outcome; see embedding_compute_task on results.
@shared_task(name="annotator.tasks.job_run_task", ignore_result=True)
def job_run_task(job_id: int) -> str:
    from annotator.models import Job
    from annotator.services import job_run

    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        return "missing"
    return job_run(job=job).status


@shared_task(name="annotator.tasks.embedding_model_export_task", ignore_result=True)
def embedding_model_export_task(sam_model_id: int) -> str:
    """Export the ONNX decoder of a model (routed to `gpu`: it loads the checkpoint)."""
    from annotator.embeddings import sam_model_export
    from annotator.models import SamModel

    sam_model = SamModel.objects.filter(pk=sam_model_id).first()
    if sam_model is None:
        return "missing"
    return str(sam_model_export(sam_model=sam_model))
