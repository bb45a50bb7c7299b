"""Which worker process holds a running row, and whether it is still there.

Work that a worker takes (an embedding batch, a job) is marked `running` with its holder,
"hostname:pid", and a lease that a heartbeat thread renews while the work lasts. A killed
worker can neither finish its rows nor say that it died, so the others look: a holder on the
same host is gone when its pid is, one elsewhere when its lease has lapsed. What is then done
with a lost row is the owner's business (embeddings are computed again; a job is failed, since
it may have written half of its annotations).

Nothing here imports torch: the web process and the services use it too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db import connection
from django.db.models import Model, Q, QuerySet
from django.utils import timezone

log = logging.getLogger(__name__)

RUNNING = "running"  # Embedding.Status.RUNNING and Job.Status.RUNNING alike
M = TypeVar("M", bound=Model)


def holder_id() -> str:
    """Who holds a claimed row: this process, as "hostname:pid" (a container's hostname is its
    own, so together with the pid it names one process)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def lease_end() -> datetime:
    return timezone.now() + timedelta(seconds=settings.EMBEDDING_LEASE_SECONDS)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    try:
        # A killed process stays a zombie until its parent reaps it; it computes nothing.
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def holder_gone(worker: str) -> bool:
    """Whether a holder on this host has died (a holder on another host: unknown here)."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    return not _pid_alive(int(pid))


def lost(running: QuerySet[M], *, unleased: Q) -> list[M]:
    """The rows of `running` whose holder is gone: dead on this host, or silent past its lease.
    `unleased` says when a row without a lease (written before leases existed) counts as lost."""
    now = timezone.now()
    found = list(
        running.filter(Q(lease_expires_at__lt=now) | (Q(lease_expires_at=None) & unleased))
    )
    seen = {row.pk for row in found}
    for row in running.exclude(pk__in=seen).exclude(worker=""):
        if holder_gone(row.worker):  # type: ignore[attr-defined]
            found.append(row)
    return found


@contextlib.contextmanager
def heartbeat(model: type[Model], ids: list[int], holder: str) -> Iterator[None]:
    """Renew the lease of the rows this process holds, every third of the lease, until the
    block ends (a thread: an encoder call or a job can run for minutes)."""
    stop = threading.Event()
    manager: Any = model._default_manager

    def beat() -> None:
        try:
            while not stop.wait(settings.EMBEDDING_LEASE_SECONDS / 3):
                try:
                    manager.filter(pk__in=ids, status=RUNNING, worker=holder).update(
                        lease_expires_at=lease_end()
                    )
                except Exception:  # noqa: BLE001 - a missed beat only shortens the lease
                    log.exception("%s lease renewal failed", model.__name__)
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name=f"{model.__name__.lower()}-lease", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
