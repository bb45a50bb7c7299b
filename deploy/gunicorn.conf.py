"""Gunicorn settings of the web image: `gunicorn webapp.wsgi --config deploy/gunicorn.conf.py`.

Several worker processes answer requests, and each counts its own request latency; with
PROMETHEUS_MULTIPROC_DIR set, prometheus-client keeps those counts in files there so that any
process's /metrics reports them all (annotator/metrics.py). The folder must start empty (a
previous run's files would be counted again) and a dead process's live gauges be dropped.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

bind = "0.0.0.0:8000"
# Threads keep a slow upload or a broker timeout from holding a whole process.
workers = 4
threads = 4
accesslog = "-"


def on_starting(server: Any) -> None:
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
        Path(folder).mkdir(parents=True, exist_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
