"""The Celery app. Its configuration lives in Django settings under the CELERY_ namespace."""

import os
from typing import Any

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

app = Celery("webapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def start_embedding_sweep(sender: Any = None, **kwargs: Any) -> None:
    """Every worker sweeps for embeddings lost with a dead worker or a down broker, once now
    and then periodically (see annotator.worker): a row must never stay `running` or
    unqueued for good, whichever worker or broker failed. Runs in the worker's main process
    only (prefork children never receive worker_ready)."""
    # Imported here, not at the top: this module is imported while Django starts (webapp's
    # __init__), before the app registry can load annotator's models.
    from django.conf import settings

    from annotator.worker import sweeper_start

    # The queues this worker takes: only one taking text jobs reports on their models.
    consumer = getattr(sender, "task_consumer", None)
    queues = [q.name for q in consumer.queues] if consumer is not None else None
    sweeper_start(interval=settings.EMBEDDING_SWEEP_SECONDS, queues=queues)
