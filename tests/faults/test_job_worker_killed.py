"""A worker killed in the middle of a job: the job ends `failed` with what happened, never
`running` forever.

A job is not run again by itself, unlike an embedding: everything mode and auto-annotation
create proposals (and keep some) image by image, so a second run would add the first images'
twice. The job row says which process holds it and until when (annotator.leases); the next worker's sweep, or
the redelivered task of a killed prefork child, fails it with a reason the user can act on.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from annotator import services, tasks
from annotator.models import Job
from tests import factories
from tests.conftest import start_worker, stop_worker, worker_env
from tests.faults.conftest import kill_when_logged

pytestmark = [pytest.mark.worker, pytest.mark.integration, pytest.mark.slow]


def _everything_job(small_model: dict[str, str]) -> Job:
    owner = factories.user()
    project = factories.project(owner=owner, sam_checkpoint=small_model["checkpoint"])
    factories.image(project, data=factories.png_bytes(96, 64, seed=5), name="scene.png")
    return Job.objects.create(
        project=project,
        kind=Job.Kind.EVERYTHING,
        params={"label": project.labels.first().pk},
        created_by=owner,
    )


def _dead_pid() -> int:
    """The pid of a process of this host that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.django_db(transaction=True)
def test_a_solo_worker_killed_mid_job_leaves_it_failed_with_the_reason(
    small_model: dict[str, str], quiet_queue: list, tmp_path: Path, settings: Any
) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    job = _everything_job(small_model)
    queue = f"faults-jobs-{os.getpid()}"
    env = worker_env(
        MEDIA_ROOT=settings.MEDIA_ROOT,
        SAM_ONNX_DIR=small_model["onnx_dir"],
        SAM_EMBEDDING_QUEUE=queue,
        EMBEDDING_SWEEP_SECONDS="3600",  # only the second worker's sweep at start may act
    )
    log = tmp_path / "worker-1.log"
    first = start_worker(log, queues=queue, ready_queue=queue, name="jobs-1", env=env)
    tasks.job_run_task.apply_async(args=[job.pk], queue=queue)
    kill_when_logged(log, f"job {job.pk} (everything) started", first, timeout=120)
    job.refresh_from_db()
    assert job.status == "running" and job.worker == f"{socket.gethostname()}:{first.pid}"

    second_log = tmp_path / "worker-2.log"
    second = start_worker(second_log, queues=queue, ready_queue=queue, name="jobs-2", env=env)
    try:
        # Its sweep at start fails the job (or the session's worker did, if it swept first).
        deadline = time.monotonic() + 60
        while Job.objects.get(pk=job.pk).status == "running" and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop_worker(second)
    job.refresh_from_db()
    assert job.status == "failed" and job.finished_at is not None, second_log.read_text()[-2000:]
    assert f"{socket.gethostname()}:{first.pid}" in job.error
    assert "Start the job again" in job.error
    assert job.worker == "" and job.lease_expires_at is None
    assert not Job.objects.filter(status="running").exists()


@pytest.mark.django_db(transaction=True)
def test_a_redelivered_job_whose_worker_died_is_failed_not_left_running(
    small_model: dict[str, str],
) -> None:
    """What a prefork child's requeued message finds: the job still `running`, held by the dead
    child. Running it again could duplicate annotations; leaving it would strand it."""
    job = _everything_job(small_model)
    dead = f"{socket.gethostname()}:{_dead_pid()}"
    Job.objects.filter(pk=job.pk).update(status="running", worker=dead, done=0, total=1)
    result = services.job_run(job=job)
    assert result.status == "failed" and dead in result.error
    assert "stopped after 0 of 1 images" in result.error
    # A job held by a live process (this one) is left alone.
    alive = _everything_job(small_model)
    Job.objects.filter(pk=alive.pk).update(
        status="running", worker=f"{socket.gethostname()}:{os.getpid()}"
    )
    assert services.job_release_lost() == []
    assert Job.objects.get(pk=alive.pk).status == "running"
