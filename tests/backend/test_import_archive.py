"""Imports in one step: the images inside the archive go through the upload checks (an image
the project has is matched, not refused), a dry run says what would be created and writes
nothing, and YOLO boxes keep their class ids."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from annotator import services
from annotator.models import Annotation, Embedding, Image, Job, Label
from tests import factories


def _zip(entries: dict[str, bytes | str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return out.getvalue()


def _post(client: Any, project: Any, fmt: str, data: bytes, **form: Any) -> Any:
    body = {"file": factories.upload(data, "import.zip"), "format": fmt, **form}
    return client.post(f"/api/projects/{project.pk}/imports/", body, format="multipart")


def _coco(*names: str) -> str:
    images = [{"id": i, "file_name": n, "width": 64, "height": 48} for i, n in enumerate(names, 1)]
    anns = [
        {"id": i, "image_id": i, "category_id": 1, "bbox": [2, 2, 18, 18], "area": 324,
         "iscrowd": 0, "segmentation": [[2, 2, 20, 2, 20, 20, 2, 20]]}
        for i in range(1, len(names) + 1)
    ]  # fmt: skip
    return json.dumps(
        {"images": images, "categories": [{"id": 1, "name": "boat"}], "annotations": anns}
    )


@pytest.mark.django_db
def test_a_dry_run_shows_the_plan_and_writes_nothing_then_the_import_does_it(
    client_for: Any, media_root: Path, no_broker: list, django_capture_on_commit_callbacks: Any
) -> None:
    owner = factories.user()
    project = factories.project(owner=owner)
    archive = _zip(
        {
            "annotations.json": _coco("a.png", "b.png"),
            "images/a.png": factories.png_bytes(64, 48, seed=1),
            "images/b.png": factories.png_bytes(64, 48, seed=2),
        }
    )
    client = client_for(owner)
    files_before = sorted(media_root.rglob("*"))

    response = _post(client, project, "coco", archive, dry_run="true")

    assert response.status_code == 200, response.content
    assert response.json() == {
        "images_new": ["a.png", "b.png"], "images_known": 0, "images_annotated": 2,
        "annotations": {"boat": 2}, "boxes": {}, "labels_to_create": ["boat"], "problems": [],
        "skipped": [],
    }  # fmt: skip
    assert not Image.objects.exists() and not Label.objects.filter(name="boat").exists()
    assert sorted(media_root.rglob("*")) == files_before

    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, project, "coco", archive)

    assert response.status_code == 201, response.content
    assert response.json() == {
        "images": 2, "annotations": 2, "labels_created": ["boat"], "images_added": 2,
        "skipped": [],
    }  # fmt: skip
    images = list(project.images.order_by("original_name"))
    assert [i.original_name for i in images] == ["a.png", "b.png"]
    assert Annotation.objects.filter(image__in=images, label__name="boat").count() == 2
    # The uploads' embeddings are requested as for any upload.
    assert Embedding.objects.filter(image__in=images).count() == 2
    assert any(name == "embedding_compute_task" for name, *_ in no_broker)

    # The same archive again: its images are the project's (dedupe by content), not refused.
    response = _post(client, project, "coco", archive, dry_run="true")
    assert response.json()["images_new"] == [] and response.json()["images_known"] == 2


@pytest.mark.django_db
def test_problems_are_listed_by_a_dry_run_and_refuse_the_import(
    client_for: Any, media_root: Path
) -> None:
    owner = factories.user()
    project = factories.project(owner=owner)
    archive = _zip(
        {
            "annotations.json": _coco("a.png", "missing.png"),
            "a.png": factories.png_bytes(64, 48, seed=3),
        }
    )
    client = client_for(owner)
    plan = _post(client, project, "coco", archive, dry_run="true").json()
    assert plan["problems"] == ["missing.png is neither in the project nor in the archive."]
    assert plan["images_new"] == ["a.png"]

    response = _post(client, project, "coco", archive)

    assert response.status_code == 400 and "missing.png" in response.json()["detail"]
    assert not Image.objects.exists() and not Annotation.objects.exists()
    assert not [p for p in media_root.rglob("*") if p.is_file()]


@pytest.mark.django_db
def test_a_dry_run_says_when_the_images_would_pass_the_quota(
    client_for: Any, settings: Any
) -> None:
    settings.QUOTA_PROJECT_IMAGES = 2
    owner = factories.user()
    project = factories.project(owner=owner)
    factories.image(project, name="old.png")
    archive = _zip(
        {
            "annotations.json": _coco("a.png", "b.png"),
            "a.png": factories.png_bytes(64, 48, seed=11),
            "b.png": factories.png_bytes(64, 48, seed=12),
        }
    )
    plan = _post(client_for(owner), project, "coco", archive, dry_run="true").json()
    assert plan["problems"] == [
        "The project would hold 3 images; its quota is 2 (QUOTA_PROJECT_IMAGES)."
    ]
    response = _post(client_for(owner), project, "coco", archive)
    assert response.status_code == 413 and project.images.count() == 1


@pytest.mark.django_db
def test_a_bad_image_in_the_archive_is_refused_with_the_upload_reason(client_for: Any) -> None:
    owner = factories.user()
    project = factories.project(owner=owner)
    archive = _zip({"annotations.json": _coco("a.png"), "a.png": b"not a picture"})
    response = _post(client_for(owner), project, "coco", archive, dry_run="true")
    assert response.status_code == 400 and "a.png" in response.json()["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["masks", "yolo_seg"])
def test_an_export_with_images_imports_into_an_empty_project(client_for: Any, fmt: str) -> None:
    owner = factories.user()
    client = client_for(owner)
    source = factories.project(owner=owner)
    image = factories.image(source, data=factories.png_bytes(64, 48, seed=9), name="scene.png")
    services.annotation_create(
        image=image, label=source.labels.first(), created_by=owner,
        polygons=factories.square(4, 4, 20),
    )  # fmt: skip
    started = client.post(
        f"/api/projects/{source.pk}/exports/",
        {"format": fmt, "include_images": True},
        format="json",
    )
    job = services.job_run(job=Job.objects.get(pk=started.json()["id"]))
    exported = b"".join(client.get(f"/api/jobs/{job.pk}/result").streaming_content)
    target = factories.project(owner=owner, labels=[])

    response = _post(client, target, fmt, exported)

    assert response.status_code == 201, response.content
    assert response.json()["images_added"] == 1 and response.json()["annotations"] == 1
    assert target.images.get().sha256 == image.sha256


def _boxes_archive() -> bytes:
    return _zip(
        {
            "classes.txt": "boat\nbuoy\n",
            "images/harbour.png": factories.png_bytes(64, 48, seed=5),
            "labels/harbour.txt": "0 0.5 0.5 0.5 0.5\n1 0.25 0.25 0.25 0.5 0.9\n1 0.8 0.8 0.2 0.2\n",
        }
    )


@pytest.mark.django_db
def test_yolo_boxes_keep_their_class_ids(
    client_for: Any, django_capture_on_commit_callbacks: Any
) -> None:
    owner = factories.user()
    project = factories.project(owner=owner, labels=[("boat", "#ff0000")])
    client = client_for(owner)

    plan = _post(client, project, "yolo_boxes", _boxes_archive(), dry_run="true").json()

    assert plan["boxes"] == {"boat": 1, "buoy": 2} and plan["labels_to_create"] == ["buoy"]
    assert plan["images_new"] == ["harbour.png"] and plan["problems"] == []
    assert not Job.objects.exists() and not Image.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, project, "yolo_boxes", _boxes_archive(), classes=[1], max_det=5)

    assert response.status_code == 202, response.content
    job = Job.objects.get(pk=response.json()["id"])
    image = project.images.get(original_name="harbour.png")
    boat, buoy = project.labels.order_by("id")
    assert buoy.name == "buoy"
    assert job.params["box_classes"] == {str(image.pk): [0, 1, 1]}
    assert job.params["class_labels"] == {"0": boat.pk, "1": buoy.pk}
    assert job.params["classes"] == [1] and job.params["max_det"] == 5
    assert "label" not in job.params


@pytest.mark.django_db
def test_without_names_class_ids_are_the_projects_labels_in_order(client_for: Any) -> None:
    owner = factories.user()
    project = factories.project(owner=owner)  # cat, dog
    factories.image(project, name="street.png")
    archive = _zip({"street.txt": "1 0.5 0.5 0.5 0.5\n0 0.2 0.2 0.1 0.1\n5 0.5 0.5 0.1 0.1\n"})
    plan = _post(client_for(owner), project, "yolo_boxes", archive, dry_run="true").json()
    assert plan["problems"] == ["Class 5 has no label: name it in classes.txt or pick a label."]
    archive = _zip({"street.txt": "1 0.5 0.5 0.5 0.5\n0 0.2 0.2 0.1 0.1\n"})
    plan = _post(client_for(owner), project, "yolo_boxes", archive, dry_run="true").json()
    assert plan["boxes"] == {"cat": 1, "dog": 1} and plan["problems"] == []


@pytest.mark.django_db
def test_an_auto_annotation_on_imported_boxes_honours_the_class_filter(
    client_for: Any, reference_dir: Path, django_capture_on_commit_callbacks: Any
) -> None:
    owner = factories.user()
    project = factories.project(
        owner=owner, labels=[("boat", "#ff0000")],
        sam_checkpoint=str(reference_dir / "sam_vit_small.pth"),
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client_for(owner), project, "yolo_boxes", _boxes_archive(), classes=[1])
    job = services.job_run(job=Job.objects.get(pk=response.json()["id"]))
    assert job.status == Job.Status.DONE, job.error
    made = Annotation.objects.filter(image__project=project)
    # Only class 1 (buoy) prompts SAM, and its masks get buoy's label.
    assert made.count() == 2 and {a.label.name for a in made} == {"buoy"}
