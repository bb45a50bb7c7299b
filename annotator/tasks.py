"""Celery tasks: thin wrappers that load a row by id and call the service of the same name.

The web process imports this module to enqueue, so nothing here imports torch at module level:
the worker-side code (annotator.embeddings) is imported inside the task bodies.
"""

from __future__ import annotations

import os
import socket

from celery import shared_task
from django.conf import settings


@shared_task(name="annotator.tasks.healthcheck_task", acks_late=False)
def healthcheck_task() -> dict[str, object]:
    """Answers from inside a worker process, so /healthz can prove the whole queue round-trips."""
    return {"hostname": socket.gethostname(), "pid": os.getpid()}


# Routed to the `gpu` queue by CELERY_TASK_ROUTES ("annotator.tasks.embedding_*").
@shared_task(
    name="annotator.tasks.embedding_compute_task",
    bind=True,
    max_retries=None,  # bounded per row by EMBEDDING_MAX_ATTEMPTS, counted in the database
)
def embedding_compute_task(self, embedding_ids: list[int]) -> dict[str, list[int]]:
    from annotator.embeddings import embedding_compute

    outcome = embedding_compute(embedding_ids=embedding_ids)
    if outcome["retry"]:
        attempt = self.request.retries + 1
        raise self.retry(
            args=[outcome["retry"]], countdown=settings.EMBEDDING_RETRY_DELAY * 2 ** (attempt - 1)
        )
    return outcome


@shared_task(name="annotator.tasks.job_run_task")
def job_run_task(job_id: int) -> str:
    from annotator.models import Job
    from annotator.services import job_run

    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        return "missing"
    return job_run(job=job).status


@shared_task(name="annotator.tasks.embedding_model_export_task")
def embedding_model_export_task(sam_model_id: int) -> str:
    """Export the ONNX decoder of a model (routed to `gpu`: it loads the checkpoint)."""
    from annotator.embeddings import sam_model_export
    from annotator.models import SamModel

    sam_model = SamModel.objects.filter(pk=sam_model_id).first()
    if sam_model is None:
        return "missing"
    return str(sam_model_export(sam_model=sam_model))
