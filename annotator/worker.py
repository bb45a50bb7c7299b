"""Worker start-up: the sweeper thread every Celery worker runs (wired in webapp/celery.py).

A worker that dies mid-batch must not strand its rows: every worker sweeps, at start and every
EMBEDDING_SWEEP_SECONDS, for embeddings and jobs whose holder is gone (see
annotator.services.embeddings and annotator.leases), and enqueues pending rows no queued task
covers (requested while the broker was down).
"""

from __future__ import annotations

import logging
import threading
import time

from django.db import close_old_connections, connection

from annotator.services import embedding_sweep, job_release_lost, text_status_report

log = logging.getLogger(__name__)

# A sweep that failed (the database restarting with the worker, say) is tried again after
# this, not after a whole EMBEDDING_SWEEP_SECONDS.
SWEEP_RETRY_SECONDS = 5.0


def sweeper_start(*, interval: float, queues: list[str] | None = None) -> threading.Thread:
    """Run embedding_sweep, and fail the jobs lost with their worker, now and every `interval`
    seconds in a daemon thread of this worker process (its own database connection; a failed
    sweep is logged and tried again). A worker taking the text jobs' queue (`queues`) also
    reports whether it can run text prompts (services/text_status.py)."""

    def loop() -> None:
        while True:
            wait = interval
            try:
                close_old_connections()
                outcome = {**embedding_sweep(), "jobs_failed": job_release_lost()}
                text_status_report(queues=queues)
                if any(outcome.values()):
                    log.info("embedding sweep: %s", outcome)
            except Exception:  # noqa: BLE001 - the database may be down too; try again soon
                log.exception("embedding sweep failed")
                wait = min(interval, SWEEP_RETRY_SECONDS)
            finally:
                connection.close()
            time.sleep(wait)

    thread = threading.Thread(target=loop, name="embedding-sweep", daemon=True)
    thread.start()
    return thread
