"""A worker killed in the middle of an embedding batch: the batch is redone once, by the next
worker, and no row stays `running`.

The kill is a SIGKILL of a `--pool=solo` worker, the production layout of a GPU worker (README)
and what the kernel's OOM killer or a lost node does: no signal handler runs, nothing is
acknowledged or rejected. On the folder broker (the default pass) the message was deleted when
it was handed out, so the broker cannot redeliver it, which the test checks; the rows hold what
is needed instead (holder "hostname:pid", lease), and the next worker's sweep puts them back
into the queue. On Redis (`make test-integration`) the unacknowledged message would come back
only after the visibility timeout (an hour); the same sweep recovers it at once there too, and
the redelivered message later finds nothing left to do.

The other way a worker dies, a prefork child killed under a live parent, goes through
acks_late + reject_on_worker_lost: the parent requeues the message, and the task takes its rows
back from the dead child (tested below as well).
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings

from annotator import tasks
from annotator.models import Embedding
from tests import factories
from tests.conftest import start_worker, stop_worker, worker_env
from tests.faults.conftest import (
    embedding_files,
    kill_when_logged,
    media_files,
    worker_log_wait,
)

pytestmark = [pytest.mark.worker, pytest.mark.integration, pytest.mark.slow]

IMAGES = 3


def _batch(small_model: dict[str, str], count: int = IMAGES) -> tuple[list[Any], list[int]]:
    owner = factories.user()
    project = factories.project(owner=owner, sam_checkpoint=small_model["checkpoint"])
    images = [
        factories.image(project, data=factories.png_bytes(64, 48, seed=seed), name=f"{seed}.png")
        for seed in range(count)
    ]
    ids = sorted(Embedding.objects.filter(image__in=images).values_list("id", flat=True))
    assert len(ids) == count
    return images, ids


def _recovery_logged(*logs: Path) -> bool:
    """Whether a worker logged taking rows back from a dead holder: these tests' workers, or
    the session's `celery_worker` when it runs (its periodic sweep may get there first)."""
    shared = Path(django_settings.VAR_DIR) / "celery-worker.log"
    paths = [*logs, shared] if shared.exists() else list(logs)
    return any("stopped mid-batch" in path.read_text(errors="replace") for path in paths)


def _wait_ready(ids: list[int], timeout: float, logs: tuple[Path, ...]) -> list[Embedding]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = list(Embedding.objects.filter(pk__in=ids).order_by("id"))
        if all(row.status in ("ready", "failed") for row in rows):
            return rows
        time.sleep(0.2)
    tails = "\n".join(f"--- {log.name}:\n{log.read_text()[-3000:]}" for log in logs)
    states = [(r.pk, r.status, r.worker, r.error) for r in rows]
    raise AssertionError(f"not done in {timeout} s: {states}\n{tails}")


def _check_done_once(images: list[Any], ids: list[int], media: Path, *logs: Path) -> None:
    rows = _wait_ready(ids, timeout=240, logs=logs)
    # One row per image and model, each ready, computed twice in all: the lost attempt and
    # the one that finished. Nothing anywhere is left running.
    assert Embedding.objects.filter(image__in=images).count() == len(images)
    assert [(row.status, row.attempts) for row in rows] == [("ready", 2)] * len(rows)
    assert all(row.worker == "" and row.lease_expires_at is None for row in rows)
    assert not Embedding.objects.filter(status="running").exists()
    # Exactly the files of each embedding (the one its row names, whole: its sha256 is the
    # row's; its gzip twin, whole; its atlas): no temporary or orphaned file beside them.
    assert media_files(media / "embeddings") == embedding_files(media, rows)
    for row in rows:
        assert hashlib.sha256((media / row.file.name).read_bytes()).hexdigest() == row.sha256


@pytest.mark.django_db(transaction=True)
def test_a_solo_worker_killed_mid_batch_has_the_batch_redone_once_by_the_next(
    small_model: dict[str, str], quiet_queue: list, tmp_path: Path, settings: Any
) -> None:
    media = tmp_path / "media"
    settings.MEDIA_ROOT = str(media)
    images, ids = _batch(small_model)
    # A queue of their own: the session's worker, if running, consumes `gpu` (and has
    # another MEDIA_ROOT). The workers' sweeps enqueue there too.
    queue = f"faults-{os.getpid()}"
    env = worker_env(
        MEDIA_ROOT=str(media),
        SAM_ONNX_DIR=small_model["onnx_dir"],
        SAM_EMBEDDING_QUEUE=queue,
        # The first worker must not be rescued by its own periodic sweep; the second's
        # sweep at start is what is tested.
        EMBEDDING_SWEEP_SECONDS="3600",
    )
    log = tmp_path / "worker-1.log"
    first = start_worker(log, queues=queue, ready_queue=queue, name="faults-1", env=env)
    tasks.embedding_compute_task.apply_async(args=[ids], queue=queue)
    kill_when_logged(log, f"encoding {IMAGES} image(s)", first, timeout=240)

    # Killed mid-batch: every row claimed by the dead process, none finished.
    rows = list(Embedding.objects.filter(pk__in=ids))
    assert {row.status for row in rows} == {"running"}
    assert {row.worker.rpartition(":")[2] for row in rows} == {str(first.pid)}
    if django_settings.CELERY_BROKER_URL.startswith("filesystem://"):
        # The folder broker deleted the message when it handed it out: no redelivery.
        queue_folder = Path(django_settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
        assert not list(queue_folder.glob(f"*.{queue}.msg"))

    second_log = tmp_path / "worker-2.log"
    second = start_worker(second_log, queues=queue, ready_queue=queue, name="faults-2", env=env)
    try:
        _check_done_once(images, ids, media, log, second_log)
    finally:
        stop_worker(second)
    assert _recovery_logged(second_log)


@pytest.mark.django_db(transaction=True)
def test_a_killed_prefork_child_has_its_task_requeued_and_its_rows_taken_back(
    small_model: dict[str, str], quiet_queue: list, tmp_path: Path, settings: Any
) -> None:
    media = tmp_path / "media"
    settings.MEDIA_ROOT = str(media)
    images, ids = _batch(small_model, count=2)
    # No periodic sweep: the requeued message alone must finish the batch.
    queue = f"faults-prefork-{os.getpid()}"
    env = worker_env(
        MEDIA_ROOT=str(media),
        SAM_ONNX_DIR=small_model["onnx_dir"],
        SAM_EMBEDDING_QUEUE=queue,
        EMBEDDING_SWEEP_SECONDS="3600",
    )
    log = tmp_path / "worker.log"
    worker = start_worker(
        log, queues=queue, ready_queue=queue, pool="prefork", name="faults-prefork", env=env
    )
    try:
        tasks.embedding_compute_task.apply_async(args=[ids], queue=queue)
        worker_log_wait(log, "encoding 2 image(s)", worker, timeout=240)
        holders = set(Embedding.objects.filter(pk__in=ids).values_list("worker", flat=True))
        assert len(holders) == 1
        child = int(holders.pop().rpartition(":")[2])
        assert child != worker.pid  # the pool's child process holds them, not the parent
        os.kill(child, signal.SIGKILL)
        # The parent sees the child die and, with acks_late + reject_on_worker_lost, puts the
        # message back; a new child runs it and takes the rows back from the dead one.
        _check_done_once(images, ids, media, log)
        assert worker.poll() is None
    finally:
        stop_worker(worker)
    assert "WorkerLostError" in log.read_text() and _recovery_logged(log)
