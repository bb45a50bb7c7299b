"""Celery tasks: thin wrappers that load a row by id and call the service of the same name."""

from __future__ import annotations

import os
import socket

from celery import shared_task


@shared_task(name="annotator.tasks.healthcheck_task", acks_late=False)
def healthcheck_task() -> dict[str, object]:
    """Answers from inside a worker process, so /healthz can prove the whole queue round-trips."""
    return {"hostname": socket.gethostname(), "pid": os.getpid()}
