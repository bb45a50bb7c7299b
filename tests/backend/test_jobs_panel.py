"""The jobs panel's API: cancel and retry for each role and state, a running job that stops
between images when cancelled, embeddings as one line of work with their errors in words, and
what the auto-annotate dialog offers (detectors, checkpoints) and the parameters it sends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from annotator import services
from annotator.models import Embedding, Job
from annotator.services import jobs as jobs_service
from annotator.services import offers
from tests import factories


def _job(project: Any, status: str = Job.Status.PENDING) -> Job:
    owner = project.memberships.get(role="owner").user
    return Job.objects.create(
        project=project, kind="export", params={"format": "coco"}, created_by=owner, status=status
    )


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["viewer", "annotator", "reviewer"])
def test_only_managers_and_owners_cancel_or_retry(
    project_with_roles: dict, client_for: Any, role: str
) -> None:
    job = _job(project_with_roles["project"], Job.Status.FAILED)
    client = client_for(project_with_roles[role])
    assert client.post(f"/api/jobs/{job.pk}/cancel").status_code == 403
    assert client.post(f"/api/jobs/{job.pk}/retry").status_code == 403
    outsider = client_for(project_with_roles["outsider"])
    assert outsider.post(f"/api/jobs/{job.pk}/cancel").status_code == 404


@pytest.mark.django_db
def test_a_cancelled_pending_job_never_starts(project_with_roles: dict, client_for: Any) -> None:
    job = _job(project_with_roles["project"])
    response = client_for(project_with_roles["manager"]).post(f"/api/jobs/{job.pk}/cancel")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled"
    assert response.json()["error"] == "Cancelled before it started."
    # The worker's task arrives afterwards: it claims only pending rows, so nothing runs.
    job = services.job_run(job=Job.objects.get(pk=job.pk))
    assert job.status == Job.Status.CANCELLED and not job.result


@pytest.mark.django_db
@pytest.mark.parametrize("status", [Job.Status.DONE, Job.Status.FAILED, Job.Status.CANCELLED])
def test_cancelling_a_finished_job_is_a_409(
    project_with_roles: dict, client_for: Any, status: str
) -> None:
    job = _job(project_with_roles["project"], status)
    response = client_for(project_with_roles["owner"]).post(f"/api/jobs/{job.pk}/cancel")
    assert response.status_code == 409 and f"already {status}" in response.json()["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize("status", [Job.Status.PENDING, Job.Status.RUNNING, Job.Status.DONE])
def test_only_a_failed_or_cancelled_job_is_retried(
    project_with_roles: dict, client_for: Any, status: str
) -> None:
    job = _job(project_with_roles["project"], status)
    response = client_for(project_with_roles["owner"]).post(f"/api/jobs/{job.pk}/retry")
    assert response.status_code == 409 and "only a failed or cancelled" in response.json()["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize("status", [Job.Status.FAILED, Job.Status.CANCELLED])
def test_a_retry_is_a_new_job_with_the_same_params(
    project_with_roles: dict,
    client_for: Any,
    no_broker: list,
    status: str,
    django_capture_on_commit_callbacks: Any,
) -> None:
    project = project_with_roles["project"]
    factories.image(project)
    job = _job(project, status)
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(project_with_roles["manager"]).post(f"/api/jobs/{job.pk}/retry")
    assert response.status_code == 202, response.content
    again = Job.objects.get(pk=response.json()["id"])
    assert again.pk != job.pk and again.retry_of_id == job.pk
    assert again.params == job.params and again.status == Job.Status.PENDING
    assert again.created_by == project_with_roles["manager"]
    assert ("job_run_task", (again.pk,), {"queue": "default"}) in no_broker
    # It runs to the end like any job, and the old row keeps its state.
    assert services.job_run(job=again).status == Job.Status.DONE
    assert Job.objects.get(pk=job.pk).status == status


@pytest.mark.django_db
def test_a_running_job_stops_between_images_when_cancelled(
    project_with_roles: dict, client_for: Any, reference_dir: Path, monkeypatch: Any
) -> None:
    owner = project_with_roles["owner"]
    project = factories.project(
        owner=owner, sam_checkpoint=str(reference_dir / "sam_vit_small.pth")
    )
    images = [factories.image(project, name=f"i{n}.png") for n in range(3)]
    label = project.labels.first()
    boxes = {str(i.pk): [[4.0, 4.0, 40.0, 30.0]] for i in images}
    job = services.job_create(
        project=project, kind="auto_annotate", created_by=owner,
        params={"boxes": boxes, "label": label.pk},
    )  # fmt: skip
    client = client_for(owner)
    real = jobs_service.job_progress

    def progress_then_click_cancel(*, job: Job, done: int, total: int) -> None:
        # The user presses Cancel in the panel after the first image: through the API, while
        # the job runs (its row says running, so the cancel is a request the worker reads).
        real(job=job, done=done, total=total)
        if done == 1:
            response = client.post(f"/api/jobs/{job.pk}/cancel")
            assert response.status_code == 200, response.content
            assert response.json()["status"] == "running" and response.json()["cancel_requested"]

    monkeypatch.setattr(jobs_service, "job_progress", progress_then_click_cancel)
    job = services.job_run(job=job)
    assert job.status == Job.Status.CANCELLED, job.error
    assert job.error == "Cancelled after 1 of 3 images; what it created is kept."
    assert [i.proposals.count() for i in images] == [1, 0, 0]  # the masks are proposals
    assert client.post(f"/api/jobs/{job.pk}/cancel").status_code == 409


@pytest.mark.django_db
def test_a_cancel_of_a_job_whose_worker_died_ends_cancelled(project_with_roles: dict) -> None:
    job = _job(project_with_roles["project"], Job.Status.RUNNING)
    Job.objects.filter(pk=job.pk).update(worker="gone-host:1", cancel_requested=True)
    Job.objects.filter(pk=job.pk).update(created_at="2000-01-01T00:00Z")
    assert services.job_release_lost(ids=[job.pk]) == [job.pk]
    assert Job.objects.get(pk=job.pk).status == Job.Status.CANCELLED


@pytest.mark.django_db
def test_embeddings_read_as_one_line_with_their_errors(
    project_with_roles: dict, client_for: Any
) -> None:
    project = project_with_roles["project"]
    images = [factories.image(project, name=f"e{n}.png") for n in range(4)]
    rows = Embedding.objects.filter(image__in=images).order_by("id")
    assert rows.count() == 4
    ids = list(rows.values_list("pk", flat=True))
    Embedding.objects.filter(pk=ids[0]).update(status="ready")
    Embedding.objects.filter(pk__in=ids[1:3]).update(status="failed", error="Out of memory")
    response = client_for(project_with_roles["viewer"]).get(
        f"/api/projects/{project.pk}/embeddings/"
    )
    assert response.status_code == 200
    assert response.json() == {
        "images": 4, "pending": 1, "running": 0, "ready": 1, "failed": 2, "none": 0,
        "errors": [{"error": "Out of memory", "count": 2}],
    }  # fmt: skip


@pytest.mark.django_db
def test_detectors_are_offered_by_name_when_they_can_run(
    project_with_roles: dict, client_for: Any, settings: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    model = tmp_path / "det.onnx"
    model.write_bytes(b"onnx")
    settings.AUTO_ANNOTATE_DETECTORS = {
        "boats": str(model),
        "gone": str(tmp_path / "missing.onnx"),
        "coco": "yolo11n.pt",
        "files": str(tmp_path),
    }
    client = client_for(project_with_roles["annotator"])
    listed = {d["name"]: d for d in client.get("/api/detectors").json()}
    assert listed["boats"] == {"name": "boats", "kind": "onnx", "available": True, "note": "ONNX detector"}  # fmt: skip
    assert listed["gone"]["available"] is False and "missing" in listed["gone"]["note"]
    assert listed["files"]["kind"] == "boxes" and listed["coco"]["kind"] == "ultralytics"
    assert str(tmp_path) not in str(listed)  # names only, never a server path
    # Without the optional package the Ultralytics name is neither offered nor accepted.
    monkeypatch.setattr(offers, "ultralytics_installed", lambda: False)
    assert "coco" not in {d["name"] for d in client.get("/api/detectors").json()}
    project = project_with_roles["project"]
    body = {"kind": "auto_annotate", "params": {"detector": "coco", "label": project.labels.first().pk}}  # fmt: skip
    response = client_for(project_with_roles["owner"]).post(
        f"/api/projects/{project.pk}/jobs/", body, format="json"
    )
    assert response.status_code == 400 and "Unknown detector 'coco'" in response.json()["detail"]


@pytest.mark.django_db
def test_checkpoints_are_offered_with_whether_their_file_is_here(
    project_with_roles: dict, client_for: Any, settings: Any, tmp_path: Path
) -> None:
    settings.SAM_CACHE_DIR = tmp_path
    settings.SAM_CHECKPOINT = "mobile_sam"
    settings.SAM_CHECKPOINTS_OFFERED = ["mobile_sam", "sam_vit_b"]
    (tmp_path / "mobile_sam.pt").write_bytes(b"weights")
    response = client_for(project_with_roles["viewer"]).get("/api/models")
    assert response.status_code == 200
    assert response.json() == [
        {"name": "mobile_sam", "present": True, "default": True},
        {"name": "sam_vit_b", "present": False, "default": False},
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ({"iou": 1.5}, "`iou` must be a number from 0 to 1"),
        ({"imgsz": 8}, "`imgsz` must be an integer from 32 to 4096"),
        ({"max_det": 0}, "`max_det` must be an integer from 1 to 10000"),
        ({"classes": ["boat"]}, "`classes` must be a list of class ids"),
        ({"conf": True}, "`conf` must be a number from 0 to 1"),
    ],
    ids=["iou", "imgsz", "max_det", "classes", "conf"],
)
def test_detector_parameters_out_of_range_are_a_400(
    project_with_roles: dict,
    client_for: Any,
    settings: Any,
    tmp_path: Path,
    extra: dict,
    fragment: str,
) -> None:
    settings.AUTO_ANNOTATE_DETECTORS = {"files": str(tmp_path)}
    project = project_with_roles["project"]
    params = {"detector": "files", "label": project.labels.first().pk, **extra}
    response = client_for(project_with_roles["owner"]).post(
        f"/api/projects/{project.pk}/jobs/",
        {"kind": "auto_annotate", "params": params},
        format="json",
    )
    assert response.status_code == 400 and fragment in response.json()["detail"], response.content


def test_the_job_parameters_reach_the_detector(tmp_path: Path) -> None:
    """conf, classes and max_det filter a box file's detections as they do a model's."""
    from annotator.autoannotate.detectors import build_detector
    from annotator.services.auto_annotate import detector_options

    (tmp_path / "a.txt").write_text(
        "0 0.5 0.5 0.2 0.2 0.9\n1 0.3 0.3 0.2 0.2 0.8\n1 0.7 0.7 0.2 0.2 0.6\n1 0.2 0.7 0.1 0.1 0.1\n"
    )
    import numpy as np

    image = np.zeros((100, 100, 3), np.uint8)
    params = {"conf": 0.5, "classes": [1], "max_det": 1, "iou": 0.5, "imgsz": 320}
    options = detector_options(params)
    assert options == {"conf": 0.5, "classes": [1], "max_det": 1, "iou": 0.5, "imgsz": 320}
    found = build_detector(str(tmp_path), **options).detect(image, name="a.png")
    assert [(d.class_id, round(d.score, 2)) for d in found] == [(1, 0.8)]
