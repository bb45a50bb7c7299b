"""Publishing work to the Celery broker, by task name.

Services enqueue through here, never through the task functions: `annotator.tasks` imports the
services (a task loads a row and calls one), so importing it back from a service would be a
circle. The names are the registered names of the tasks in annotator/tasks.py; they are stable
(CELERY_TASK_ROUTES and messages already in a broker refer to them).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from celery import current_app
from django.utils import timezone
from kombu.exceptions import KombuError

from annotator.models import Embedding

log = logging.getLogger(__name__)

HEALTHCHECK = "annotator.tasks.healthcheck_task"
# Routed to the `gpu` queue by CELERY_TASK_ROUTES ("annotator.tasks.embedding_*").
EMBEDDING_COMPUTE = "annotator.tasks.embedding_compute_task"
MODEL_EXPORT = "annotator.tasks.embedding_model_export_task"
JOB_RUN = "annotator.tasks.job_run_task"
# Not an embedding_* name: the CPU follow-up runs on the default queue, off the `gpu` one.
ATLAS_COMPUTE = "annotator.tasks.atlas_compute_task"
# The decoder files' gzip twins: seconds of CPU per export, on the same low-priority queue.
DECODER_GZIP = "annotator.tasks.atlas_decoder_gzip_task"

# The rows hold the outcome of these (status, error, attempts), so no result is stored: with a
# Redis result backend, a task that keeps its result also subscribes to it when sent, which is
# one more server a web request would wait on.
_NO_RESULT = {EMBEDDING_COMPUTE, MODEL_EXPORT, JOB_RUN, ATLAS_COMPUTE, DECODER_GZIP}

# What a publish raises when the broker cannot take a message: kombu wraps a transport's
# connection errors (Redis refused or timed out) in OperationalError; the folder broker raises
# plain OSError (folder gone, unwritable, disk full).
BROKER_ERRORS = (KombuError, OSError)


def publish(name: str, args: Sequence[Any], **options: Any) -> Any:
    """Send one task message; the broker's exception propagates. Returns the AsyncResult."""
    return current_app.send_task(name, args=list(args), ignore_result=name in _NO_RESULT, **options)


def send(name: str, args: Sequence[Any], **options: Any) -> bool:
    """Publish a task; False (logged) when the broker is unavailable, instead of an exception
    that would turn the caller's request into a 500. The publish gives up within seconds
    (CELERY_BROKER_TIMEOUT and the publish retry policy in settings)."""
    try:
        publish(name, args, **options)
    except BROKER_ERRORS as exc:
        log.warning("could not enqueue %s: broker unavailable: %s", name, exc)
        return False
    return True


def embedding_enqueue(embedding_ids: Sequence[int], *, countdown: float | None = None) -> bool:
    """Enqueue a compute task for the rows and record it on them (`queued_at`). When the
    broker is down the rows stay pending with `queued_at` empty, which the workers' sweep and
    the next GET of the embedding take as "enqueue me again"; returns whether it was sent."""
    ids = list(embedding_ids)
    if not ids:
        return True
    options = {"countdown": countdown} if countdown else {}
    sent = send(EMBEDDING_COMPUTE, [ids], **options)
    rows = Embedding.objects.filter(pk__in=ids, status=Embedding.Status.PENDING)
    rows.update(queued_at=timezone.now() if sent else None)
    return sent
