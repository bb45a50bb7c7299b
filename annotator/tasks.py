"""Celery tasks: thin wrappers that load a row by id and call the service of the same name.

Nothing enqueues through these functions: services publish by name through annotator.queue,
whose names these keep (explicit `name=`, so messages already in a broker still route). The
web process may import this module without torch: the services import the model inside the
functions that run it.
"""

from __future__ import annotations

import os
import socket

from celery import shared_task

from annotator import queue, services
from annotator.models import Job, SamModel


@shared_task(name=queue.HEALTHCHECK, acks_late=False)
def healthcheck_task() -> dict[str, object]:
    """Answers from inside a worker process, so /healthz can prove the whole queue round-trips."""
    return {"hostname": socket.gethostname(), "pid": os.getpid()}


# Routed to the `gpu` queue by CELERY_TASK_ROUTES ("annotator.tasks.embedding_*"). The rows hold
# the outcome (status, error, attempts), so no result is stored (see annotator.queue).
@shared_task(name=queue.EMBEDDING_COMPUTE, ignore_result=True)
def embedding_compute_task(embedding_ids: list[int]) -> dict[str, list[int]]:
    outcome = services.embedding_compute(embedding_ids=embedding_ids)
    if outcome["retry"]:
        services.embedding_retry_later(ids=outcome["retry"])
    return outcome


# The row holds the outcome (atlas, atlas_error); on the default queue (see annotator.queue).
@shared_task(name=queue.ATLAS_COMPUTE, ignore_result=True)
def atlas_compute_task(embedding_ids: list[int], force: bool = False) -> dict[str, list[int]]:
    return services.atlas_compute(embedding_ids=embedding_ids, force=force)


# On the atlas queue too: compressing an export's graphs once, off the embeddings' way.
@shared_task(name=queue.DECODER_GZIP, ignore_result=True)
def atlas_decoder_gzip_task(sha256: str) -> int:
    return services.decoder_gzip(sha256=sha256)


# The Job row holds the outcome; see embedding_compute_task on results.
@shared_task(name=queue.JOB_RUN, ignore_result=True)
def job_run_task(job_id: int) -> str:
    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        return "missing"
    return services.job_run(job=job).status


@shared_task(name=queue.MODEL_EXPORT, ignore_result=True)
def embedding_model_export_task(sam_model_id: int) -> str:
    """Export the ONNX decoder of a model (routed to `gpu`: it loads the checkpoint)."""
    sam_model = SamModel.objects.filter(pk=sam_model_id).first()
    if sam_model is None:
        return "missing"
    return str(services.sam_model_export(sam_model=sam_model))
