"""Liveness and readiness: /healthz for load balancers, /healthz?worker=1 for the worker too."""

from __future__ import annotations

from celery.exceptions import TimeoutError as CeleryTimeoutError
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from annotator.tasks import healthcheck_task

WORKER_TIMEOUT_SECONDS = 10.0


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:  # noqa: BLE001 - any database failure means "not ready"
        return False


def _worker_status(timeout: float) -> dict[str, object]:
    try:
        result = healthcheck_task.apply_async(queue="default")
        answer = result.get(timeout=timeout)
    except CeleryTimeoutError:
        return {"status": "timeout", "detail": f"no worker answered within {timeout:.0f} s"}
    except Exception as exc:  # noqa: BLE001 - the broker itself may be down
        return {"status": "unreachable", "detail": f"broker error: {exc}"}
    return {"status": "ok", **answer}


@never_cache
@require_safe  # GET, and HEAD, which some load balancers probe with
def healthz(request: HttpRequest) -> JsonResponse:
    body: dict[str, object] = {"status": "ok", "database": "ok"}
    if not _database_ok():
        body.update(status="error", database="error")
    if request.GET.get("worker") in {"1", "true"}:
        worker = _worker_status(WORKER_TIMEOUT_SECONDS)
        body["worker"] = worker
        if worker["status"] != "ok":
            body["status"] = "error"
    status = 200 if body["status"] == "ok" else 503
    response = JsonResponse(body, status=status)
    if status == 503:
        response["Retry-After"] = "10"
    return response
