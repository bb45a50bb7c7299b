"""A cancel reaches a job running in another process: a real Celery worker runs everything mode
over several images while the API, in this process, cancels it. The worker reads the request
from the job's row between images (no message to it, no shared memory), so the same holds
across hosts; the job ends `cancelled` with the images it finished kept."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from annotator import tasks
from annotator.models import Job, Proposal
from tests import factories
from tests.conftest import start_worker, stop_worker, worker_env

pytestmark = [pytest.mark.worker, pytest.mark.integration, pytest.mark.slow]


def _wait(predicate: Any, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not seen in {timeout} s: {log.read_text()[-2000:]}")
        time.sleep(0.1)


@pytest.mark.django_db(transaction=True)
def test_a_running_job_in_a_worker_process_stops_between_images_when_cancelled(
    small_model: dict[str, str], quiet_queue: list, tmp_path: Path, settings: Any
) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    owner = factories.user()
    project = factories.project(owner=owner, sam_checkpoint=small_model["checkpoint"])
    images = [
        factories.image(project, data=factories.png_bytes(96, 64, seed=n), name=f"s{n}.png")
        for n in range(12)
    ]
    job = Job.objects.create(
        project=project,
        kind=Job.Kind.EVERYTHING,
        params={"label": project.labels.first().pk, "points_per_side": 8},
        created_by=owner,
    )
    queue = f"cancel-jobs-{os.getpid()}"
    env = worker_env(
        MEDIA_ROOT=settings.MEDIA_ROOT,
        SAM_ONNX_DIR=small_model["onnx_dir"],
        SAM_EMBEDDING_QUEUE=queue,
        EMBEDDING_SWEEP_SECONDS="3600",
    )
    log = tmp_path / "worker.log"
    worker = start_worker(log, queues=queue, ready_queue=queue, name="cancel-1", env=env)
    try:
        tasks.job_run_task.apply_async(args=[job.pk], queue=queue)
        _wait(lambda: Job.objects.get(pk=job.pk).done >= 1, 180, "the first image", log)
        client = APIClient()
        client.force_authenticate(owner)
        response = client.post(f"/api/jobs/{job.pk}/cancel")
        assert response.status_code == 200, response.content
        assert response.json()["cancel_requested"] is True
        _wait(lambda: Job.objects.get(pk=job.pk).status != "running", 120, "the stop", log)
    finally:
        stop_worker(worker)
    job.refresh_from_db()
    assert job.status == "cancelled", (job.status, job.error)
    assert 1 <= job.done < len(images) and job.total == len(images)
    assert (
        job.error == f"Cancelled after {job.done} of {job.total} images; what it created is kept."
    )
    touched = set(Proposal.objects.filter(image__project=project).values_list("image", flat=True))
    # Only the images before the stop were worked on (by id order, the job's order).
    assert touched <= {image.pk for image in images[: job.done]}
    assert job.worker == "" and job.finished_at is not None
