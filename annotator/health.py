"""Liveness and readiness: /healthz for load balancers, /healthz?worker=1 for the worker too.

The broker is checked on every call but does not turn the answer into a 503: with the broker
down, annotation work still goes on (only embedding requests answer 503), so a load balancer
must keep the web servers in rotation. The body says `"status": "degraded"` and why. The worker
check is cached and names no host (annotator/services/health.py).
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from annotator.services import health

WORKER_TIMEOUT_SECONDS = 10.0


@never_cache
@require_safe  # GET, and HEAD, which some load balancers probe with
def healthz(request: HttpRequest) -> JsonResponse:
    body: dict[str, object] = {"status": "ok", "database": "ok", "broker": "ok"}
    broker = health.broker_status()
    if broker["status"] != "ok":
        body.update(status="degraded", broker="error", broker_detail=broker["detail"])
    if not health.database_ok():
        body.update(status="error", database="error")
    if request.GET.get("worker") in {"1", "true"}:
        worker = health.worker_status(timeout=WORKER_TIMEOUT_SECONDS)
        body["worker"] = worker
        if worker["status"] != "ok":
            body["status"] = "error"
    status = 503 if body["status"] == "error" else 200
    response = JsonResponse(body, status=status)
    if status == 503:
        response["Retry-After"] = "10"
    return response
