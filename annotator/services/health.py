"""Readiness of what the web process depends on: the database, the broker and a worker.

The worker check is public (a load balancer has no account) and sends a task, so it is cheap to
call by design: one round trip at a time across every web process, its answer kept in the cache
for HEALTH_WORKER_CACHE_SECONDS, and it names no host or process id.
"""

from __future__ import annotations

import logging
import os
import time

from celery import current_app
from celery.exceptions import TimeoutError as CeleryTimeoutError
from django.conf import settings
from django.core.cache import cache
from django.db import connection

from annotator import queue

logger = logging.getLogger(__name__)

WORKER_ANSWER_KEY = "healthz:worker"
WORKER_LOCK_KEY = "healthz:worker:lock"
# A failure is kept for less time than a success, so that a worker that comes back shows soon.
WORKER_FAILURE_CACHE_SECONDS = 5


def database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:  # noqa: BLE001 - any database failure means "not ready"
        return False


def broker_status() -> dict[str, object]:
    """Whether a task could be enqueued now, within the broker timeout of the settings."""
    app = current_app
    if app.conf.broker_url.startswith("filesystem://"):
        folder = str(app.conf.broker_transport_options.get("data_folder_out", ""))
        if not (os.path.isdir(folder) and os.access(folder, os.W_OK)):
            return {"status": "error", "detail": f"queue folder {folder} is not writable"}
        return {"status": "ok"}
    try:
        with app.connection_for_write() as conn:
            # One try: a load balancer polls this, and a retry doubles a hung broker's cost.
            conn.ensure_connection(max_retries=0)
    except Exception as exc:  # noqa: BLE001 - whatever the transport raises, it is down
        return {"status": "error", "detail": f"broker error: {exc}"}
    return {"status": "ok"}


def worker_status(*, timeout: float) -> dict[str, object]:
    """Whether a worker answers a task, from the cache when another call asked recently."""
    try:
        return _cached_worker_status(timeout)
    except Exception:  # noqa: BLE001 - the cache (Redis) is down: answer, uncached, as before
        logger.warning("cache unavailable; /healthz?worker=1 sends its task uncached", exc_info=True)  # fmt: skip
        return _worker_round_trip(timeout)


def _worker_round_trip(timeout: float) -> dict[str, object]:
    """A round trip through the broker to a worker and back (annotator.tasks.healthcheck_task)."""
    try:
        queue.publish(queue.HEALTHCHECK, [], queue="default").get(timeout=timeout)
    except CeleryTimeoutError:
        return {"status": "timeout", "detail": f"no worker answered within {timeout:.0f} s"}
    except Exception:  # noqa: BLE001 - the broker itself may be down (the body says so above)
        return {"status": "unreachable", "detail": "the task could not be sent"}
    # The task's answer (host name, pid) stays here: it tells a stranger about our machines.
    return {"status": "ok"}


def _cached_worker_status(timeout: float) -> dict[str, object]:
    """The last answer if it is recent; else one caller (cache.add is the lock) sends a task
    and the others wait for its answer instead of sending their own."""
    answer = cache.get(WORKER_ANSWER_KEY)
    if answer is not None:
        return answer
    if cache.add(WORKER_LOCK_KEY, True, timeout=timeout + 5):
        try:
            answer = _worker_round_trip(timeout)
            ttl = settings.HEALTH_WORKER_CACHE_SECONDS
            if answer["status"] != "ok":
                ttl = min(ttl, WORKER_FAILURE_CACHE_SECONDS)
            cache.set(WORKER_ANSWER_KEY, answer, timeout=ttl)
            return answer
        finally:
            cache.delete(WORKER_LOCK_KEY)
    deadline = time.monotonic() + timeout + 1
    while time.monotonic() < deadline:
        time.sleep(0.2)
        answer = cache.get(WORKER_ANSWER_KEY)
        if answer is not None:
            return answer
    return {"status": "timeout", "detail": f"no worker answered within {timeout:.0f} s"}
