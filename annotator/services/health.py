"""Readiness of what the web process depends on: the database, the broker and a worker."""

from __future__ import annotations

import os

from celery import current_app
from celery.exceptions import TimeoutError as CeleryTimeoutError
from django.db import connection

from annotator import queue


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
    """A round trip through the broker to a worker and back (annotator.tasks.healthcheck_task)."""
    try:
        result = queue.publish(queue.HEALTHCHECK, [], queue="default")
        answer = result.get(timeout=timeout)
    except CeleryTimeoutError:
        return {"status": "timeout", "detail": f"no worker answered within {timeout:.0f} s"}
    except Exception as exc:  # noqa: BLE001 - the broker itself may be down
        return {"status": "unreachable", "detail": f"broker error: {exc}"}
    return {"status": "ok", **answer}
