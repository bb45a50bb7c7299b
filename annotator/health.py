"""Liveness and readiness: /healthz for load balancers, /healthz?worker=1 for the worker too.

The broker is checked on every call but does not turn the answer into a 503: with the broker
down, annotation work still goes on (only embedding requests answer 503), so a load balancer
must keep the web servers in rotation. The body says `"status": "degraded"` and why.

The worker check is public (a load balancer has no account) and sends a task, so it is cheap to
call by design: one round trip at a time across every web process, its answer kept in the cache
for HEALTH_WORKER_CACHE_SECONDS, and it names no host or process id.
"""

from __future__ import annotations

import logging
import os
import time

from celery.exceptions import TimeoutError as CeleryTimeoutError
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from annotator.tasks import healthcheck_task

logger = logging.getLogger(__name__)

WORKER_TIMEOUT_SECONDS = 10.0


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:  # noqa: BLE001 - any database failure means "not ready"
        return False


def _broker_status() -> dict[str, object]:
    """Whether a task could be enqueued now, within the broker timeout of the settings."""
    from webapp.celery import app

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


WORKER_ANSWER_KEY = "healthz:worker"
WORKER_LOCK_KEY = "healthz:worker:lock"
# A failure is kept for less time than a success, so that a worker that comes back shows soon.
WORKER_FAILURE_CACHE_SECONDS = 5


def _worker_round_trip(timeout: float) -> dict[str, object]:
    try:
        healthcheck_task.apply_async(queue="default").get(timeout=timeout)
    except CeleryTimeoutError:
        return {"status": "timeout", "detail": f"no worker answered within {timeout:.0f} s"}
    except Exception:  # noqa: BLE001 - the broker itself may be down (the body says so above)
        return {"status": "unreachable", "detail": "the task could not be sent"}
    # The task's answer (host name, pid) stays here: it tells a stranger about our machines.
    return {"status": "ok"}


def _worker_status(timeout: float) -> dict[str, object]:
    try:
        return _cached_worker_status(timeout)
    except Exception:  # noqa: BLE001 - the cache (Redis) is down: answer, uncached, as before
        logger.warning("cache unavailable; /healthz?worker=1 sends its task uncached", exc_info=True)  # fmt: skip
        return _worker_round_trip(timeout)


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


@never_cache
@require_safe  # GET, and HEAD, which some load balancers probe with
def healthz(request: HttpRequest) -> JsonResponse:
    body: dict[str, object] = {"status": "ok", "database": "ok", "broker": "ok"}
    broker = _broker_status()
    if broker["status"] != "ok":
        body.update(status="degraded", broker="error", broker_detail=broker["detail"])
    if not _database_ok():
        body.update(status="error", database="error")
    if request.GET.get("worker") in {"1", "true"}:
        worker = _worker_status(WORKER_TIMEOUT_SECONDS)
        body["worker"] = worker
        if worker["status"] != "ok":
            body["status"] = "error"
    status = 503 if body["status"] == "error" else 200
    response = JsonResponse(body, status=status)
    if status == 503:
        response["Retry-After"] = "10"
    return response
