"""Everything mode writes proposals, not annotations: run in this process with `keep_above`
(kept at once unless the image's lock refuses), and by a real Celery worker for an annotator
who holds the image."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from annotator import services
from annotator.api.serializers import JobSerializer
from annotator.models import Job, Proposal, Role
from tests import factories

# Random weights predict low IoUs: the quality filters are opened, on a coarse grid.
OPEN = {"points_per_side": 4, "pred_iou_thresh": 0.0, "stability_score_thresh": 0.0}


@pytest.mark.django_db
@pytest.mark.slow
def test_keep_above_keeps_at_once_unless_the_lock_refuses(reference_dir: Path) -> None:
    owner = factories.user("owner")
    project = factories.project(
        owner=owner, sam_checkpoint=str(reference_dir / "sam_vit_small.pth")
    )
    other = factories.member(project, Role.ANNOTATOR, username="holder")
    image = factories.image(project, data=(reference_dir / "chelsea.png").read_bytes())
    cat = project.labels.get(name="cat")
    params = {**OPEN, "label": cat.pk, "keep_above": 0.0, "image_ids": [image.pk]}

    def run() -> Job:
        job = services.job_create(
            project=project, kind="everything", created_by=owner, params=dict(params)
        )
        return services.job_run(job=job)

    # Another user holds the image: every keep is refused, the proposals stay pending, counted.
    services.image_lock(image=image, user=other)
    held = run()
    assert held.status == Job.Status.DONE, held.error
    n = held.proposals.count()
    assert n > 0 and not image.annotations.exists()
    assert JobSerializer(held).data["proposals"] == {
        "pending": n, "kept": 0, "dropped": 0, "refused": n
    }  # fmt: skip

    # Free again: every proposal scores >= 0, so all are annotations at once, with the label.
    services.image_unlock(image=image, user=other)
    free = run()
    assert free.status == Job.Status.DONE, free.error
    assert free.proposals.count() == n  # the same picture, the same masks
    assert set(free.proposals.values_list("status", flat=True)) == {"kept"}
    assert image.annotations.filter(label=cat, source="auto").count() == n
    assert JobSerializer(free).data["proposals"]["refused"] == 0
    assert held.proposals.filter(status="pending").count() == n


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
@pytest.mark.integration
@pytest.mark.slow
def test_a_worker_runs_an_annotators_everything_job_into_proposals(
    celery_worker: Any, reference_dir: Path, settings: Any
) -> None:
    # The worker writes media under its MEDIA_ROOT (the session's); read them from there too.
    settings.MEDIA_ROOT = os.environ.get("MEDIA_ROOT", str(Path(settings.VAR_DIR) / "media"))
    owner = factories.user()
    project = factories.project(
        owner=owner, sam_checkpoint=str(reference_dir / "sam_vit_small.pth")
    )
    annotator = factories.member(project, Role.ANNOTATOR)
    client = APIClient()
    client.force_authenticate(owner)
    upload = SimpleUploadedFile("chelsea.png", (reference_dir / "chelsea.png").read_bytes())
    response = client.post(
        f"/api/projects/{project.pk}/images/", {"files": [upload]}, format="multipart"
    )
    assert response.status_code == 201, response.content
    image_id = response.json()[0]["id"]

    client.force_authenticate(annotator)
    assert client.post(f"/api/images/{image_id}/lock").status_code == 200
    body = {"kind": "everything", "params": {**OPEN, "image_ids": [image_id]}}
    response = client.post(f"/api/projects/{project.pk}/jobs/", body, format="json")
    assert response.status_code == 202, response.content
    job_url = f"/api/jobs/{response.json()['id']}/"
    deadline = time.monotonic() + 240
    while (job := client.get(job_url).json())["status"] in ("pending", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.5)
    assert job["status"] == "done", job
    listed = client.get(f"/api/images/{image_id}/proposals/").json()["results"]
    assert listed and job["proposals"]["pending"] == len(listed)
    assert all(p["source"] == "everything" and p["label"] is None for p in listed)
    assert Proposal.objects.filter(image_id=image_id, created_by=annotator).count() == len(listed)
    # No label was suggested: keeping one asks for it, then it is the annotator's annotation.
    first = listed[0]["id"]
    assert client.post(f"/api/proposals/{first}/keep").status_code == 400
    label = project.labels.first().pk
    kept = client.post(f"/api/proposals/{first}/keep", {"label": label}, format="json")
    assert kept.status_code == 200 and kept.json()["annotation"]["created_by"] == annotator.pk
