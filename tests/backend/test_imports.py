"""POST /api/projects/{id}/imports/: round trips with the export, roles, and refusals that
store nothing."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import numpy as np
import pytest

from annotator import geometry, services
from annotator.models import Annotation, Job
from tests import factories

HOLED = [
    {
        "outer": [[4, 4], [40, 4], [40, 40], [4, 40]],
        "holes": [[[14, 14], [30, 14], [30, 30], [14, 30]]],
    }
]
TWO_PARTS = factories.square(44, 4, 8) + factories.square(44, 30, 10)


def _annotated_project(owner: Any, data: bytes) -> Any:
    project = factories.project(owner=owner)
    image = factories.image(project, data=data, name="scene.png")
    cat, dog = project.labels.order_by("id")
    for label, polygons in ((cat, HOLED), (dog, TWO_PARTS)):
        services.annotation_create(image=image, label=label, created_by=owner, polygons=polygons)
    return project


def _export(client: Any, project: Any, fmt: str) -> bytes:
    response = client.post(f"/api/projects/{project.pk}/exports/", {"format": fmt}, format="json")
    assert response.status_code == 202, response.json()
    job = services.job_run(job=Job.objects.get(pk=response.json()["id"]))
    assert job.status == Job.Status.DONE, job.error
    return b"".join(client.get(f"/api/jobs/{job.pk}/result").streaming_content)


def _import(client: Any, project: Any, fmt: str, data: bytes, name: str = "upload") -> Any:
    upload = factories.upload(data, name)
    return client.post(
        f"/api/projects/{project.pk}/imports/", {"file": upload, "format": fmt}, format="multipart"
    )


def _masks(project: Any) -> dict[str, np.ndarray]:
    out = {}
    for ann in Annotation.objects.filter(image__project=project).select_related("label"):
        out[ann.label.name] = geometry.rle_to_mask(ann.rle)
    return out


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


@pytest.mark.django_db
@pytest.mark.parametrize("export_fmt,import_fmt", [("coco", "coco"), ("masks", "masks")])
def test_an_export_imports_into_a_fresh_project_unchanged(
    client_for: Any, export_fmt: str, import_fmt: str
) -> None:
    owner = factories.user()
    client = client_for(owner)
    data = factories.png_bytes(64, 48, seed=7)
    source = _annotated_project(owner, data)
    exported = _export(client, source, export_fmt)
    target = factories.project(owner=owner, labels=[])
    factories.image(target, data=data, name="scene.png")

    response = _import(client, target, import_fmt, exported)

    assert response.status_code == 201, response.json()
    assert response.json()["annotations"] == 2
    assert sorted(response.json()["labels_created"]) == ["cat", "dog"]
    before, after = _masks(source), _masks(target)
    assert set(after) == {"cat", "dog"}
    for name in before:
        assert _iou(before[name], after[name]) >= 0.99
    assert after["cat"][20, 20] == 0 and after["cat"][8, 8] == 1  # the hole survived
    sources = set(Annotation.objects.filter(image__project=target).values_list("source", flat=True))
    assert sources == {"manual"}


@pytest.mark.django_db
def test_a_yolo_seg_export_imports_back(client_for: Any) -> None:
    owner = factories.user()
    client = client_for(owner)
    data = factories.png_bytes(64, 48, seed=8)
    source = factories.project(owner=owner)
    image = factories.image(source, data=data, name="scene.png")
    services.annotation_create(
        image=image,
        label=source.labels.first(),
        created_by=owner,
        polygons=factories.square(4, 4, 20),
    )
    exported = _export(client, source, "yolo_seg")
    target = factories.project(owner=owner)
    factories.image(target, data=data, name="scene.png")

    response = _import(client, target, "yolo_seg", exported, "labels.zip")

    assert response.status_code == 201, response.json()
    assert _iou(_masks(source)["cat"], _masks(target)["cat"]) >= 0.99


@pytest.mark.django_db
def test_scores_in_the_file_are_kept(client_for: Any) -> None:
    owner = factories.user()
    project = factories.project(owner=owner)
    factories.image(project, name="a.png")
    coco = _coco("a.png", score=0.75)

    response = _import(client_for(owner), project, "coco", json.dumps(coco).encode())

    assert response.status_code == 201, response.json()
    ann = Annotation.objects.get(image__project=project)
    assert (ann.source, ann.score) == ("auto", 0.75)


def _coco(file_name: str, score: float | None = None) -> dict[str, Any]:
    ann: dict[str, Any] = {
        "id": 1,
        "image_id": 1,
        "category_id": 1,
        "segmentation": [[2, 2, 20, 2, 20, 20, 2, 20]],
        "bbox": [2, 2, 18, 18],
        "area": 324,
        "iscrowd": 0,
    }
    if score is not None:
        ann["score"] = score
    return {
        "images": [{"id": 1, "file_name": file_name, "width": 64, "height": 48}],
        "categories": [{"id": 1, "name": "cat"}],
        "annotations": [ann],
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    "role,expected",
    [("owner", 201), ("manager", 201), ("annotator", 403), ("viewer", 403), ("outsider", 404)],
)
def test_only_managers_import(
    project_with_roles: dict, client_for: Any, role: str, expected: int
) -> None:
    project = project_with_roles["project"]
    factories.image(project, name="a.png")
    client = client_for(project_with_roles[role])
    response = _import(client, project, "coco", json.dumps(_coco("a.png")).encode())
    assert response.status_code == expected
    assert "detail" in response.json() or expected == 201


@pytest.mark.django_db
@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        json.dumps({"images": [], "annotations": [{"id": 1}], "categories": []}).encode(),
        json.dumps(
            {**_coco("a.png"), "annotations": [{**_coco("a.png")["annotations"][0], "image_id": 9}]}
        ).encode(),
    ],
    ids=["not-json", "bad-annotation", "unknown-image-id"],
)
def test_a_malformed_coco_file_stores_nothing(client_for: Any, content: bytes) -> None:
    owner = factories.user()
    project = factories.project(owner=owner)
    factories.image(project, name="a.png")
    response = _import(client_for(owner), project, "coco", content)
    assert response.status_code == 400 and response.json()["detail"]
    assert not Annotation.objects.filter(image__project=project).exists()


@pytest.mark.django_db
def test_images_not_in_the_project_are_listed_and_nothing_is_stored(client_for: Any) -> None:
    owner = factories.user()
    project = factories.project(owner=owner, labels=[])
    factories.image(project, name="a.png")
    coco = _coco("a.png")
    coco["images"].append({"id": 2, "file_name": "missing.png", "width": 64, "height": 48})
    coco["annotations"].append({**coco["annotations"][0], "id": 2, "image_id": 2})

    response = _import(client_for(owner), project, "coco", json.dumps(coco).encode())

    assert response.status_code == 400
    assert "missing.png" in response.json()["detail"]
    assert not Annotation.objects.filter(image__project=project).exists()
    assert not project.labels.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["coco", "yolo_seg", "masks", "yolo_boxes"])
def test_a_zip_slip_archive_is_refused(client_for: Any, fmt: str) -> None:
    owner = factories.user()
    project = factories.project(owner=owner)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("../../evil.json", json.dumps(_coco("a.png")))
    response = _import(client_for(owner), project, fmt, out.getvalue(), "evil.zip")
    assert response.status_code == 400 and "zip slip" in response.json()["detail"]
    assert not Annotation.objects.filter(image__project=project).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["coco", "masks", "yolo_boxes"])
def test_a_zip_bomb_is_refused(client_for: Any, fmt: str) -> None:
    owner = factories.user()
    project = factories.project(owner=owner)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("labels.json", b" " * 8 * 1024 * 1024)  # ~1000:1
    response = _import(client_for(owner), project, fmt, out.getvalue(), "bomb.zip")
    assert response.status_code == 400 and "zip bomb" in response.json()["detail"]
    assert not Annotation.objects.filter(image__project=project).exists()
    assert not Job.objects.filter(project=project).exists()


@pytest.mark.django_db
def test_a_bad_yolo_box_line_names_its_file(client_for: Any) -> None:
    owner = factories.user()
    project = factories.project(owner=owner)
    factories.image(project, name="street.png")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("street.txt", "0 0.5 nope 0.5 0.5\n")
    response = _import(client_for(owner), project, "yolo_boxes", out.getvalue(), "b.zip")
    assert response.status_code == 400 and "street.txt: line 1" in response.json()["detail"]


@pytest.mark.django_db
def test_yolo_boxes_start_an_auto_annotate_job(client_for: Any) -> None:
    owner = factories.user()
    project = factories.project(owner=owner)
    image = factories.image(project, name="street.png")  # 64 x 48
    dog = project.labels.get(name="dog")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("labels/street.txt", "0 0.5 0.5 0.5 0.5\n2 0.25 0.25 0.25 0.5 0.9\n")
    upload = factories.upload(out.getvalue(), "boxes.zip")

    response = _client_post_boxes(client_for(owner), project, upload, dog.pk)

    assert response.status_code == 202, response.json()
    job = Job.objects.get(pk=response.json()["id"])
    assert job.kind == "auto_annotate" and job.params["label"] == dog.pk
    assert job.params["boxes"] == {
        str(image.pk): [[16.0, 12.0, 48.0, 36.0], [8.0, 0.0, 24.0, 24.0]]
    }
    assert job.params["image_ids"] == [image.pk]


def _client_post_boxes(client: Any, project: Any, upload: Any, label: int) -> Any:
    body = {"file": upload, "format": "yolo_boxes", "label": label}
    return client.post(f"/api/projects/{project.pk}/imports/", body, format="multipart")


@pytest.mark.django_db
def test_yolo_boxes_for_unknown_images_are_refused(client_for: Any) -> None:
    owner = factories.user()
    project = factories.project(owner=owner)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("nowhere.txt", "0 0.5 0.5 0.5 0.5\n")
    response = _import(client_for(owner), project, "yolo_boxes", out.getvalue(), "b.zip")
    assert response.status_code == 400 and "nowhere.txt" in response.json()["detail"]
    assert not Job.objects.filter(project=project).exists()


@pytest.mark.django_db
def test_the_import_is_in_the_schema(client_for: Any) -> None:
    schema = client_for(factories.user()).get("/api/schema/?format=json").json()
    post = schema["paths"]["/api/projects/{id}/imports/"]["post"]
    assert {"201", "202", "400"} <= set(post["responses"])


@pytest.mark.django_db
def test_an_image_of_another_size_stores_nothing(client_for: Any) -> None:
    owner = factories.user()
    project = factories.project(owner=owner)
    factories.image(project, name="a.png")
    factories.image(project, name="b.png")
    coco = _coco("a.png")
    coco["images"].append({"id": 2, "file_name": "b.png", "width": 640, "height": 480})
    coco["annotations"].append({**coco["annotations"][0], "id": 2, "image_id": 2})

    response = _import(client_for(owner), project, "coco", json.dumps(coco).encode())

    assert response.status_code == 400 and "640x480" in response.json()["detail"]
    assert not Annotation.objects.filter(image__project=project).exists()


def _coco_of(names: list[str]) -> bytes:
    """One square per image, each image named in `names` (all 64 x 48)."""
    coco = _coco(names[0])
    for index, name in enumerate(names[1:], start=2):
        coco["images"].append({"id": index, "file_name": name, "width": 64, "height": 48})
        coco["annotations"].append({**coco["annotations"][0], "id": index, "image_id": index})
    return json.dumps(coco).encode()


def _held_project(project_with_roles: dict) -> dict[str, Any]:
    """free.png open, final.png accepted, busy.png locked by the annotator."""
    p = project_with_roles["project"]
    images = {name: factories.image(p, name=name) for name in ("free.png", "final.png", "busy.png")}
    factories.set_status(images["final.png"], "accepted")
    services.image_lock(image=images["busy.png"], user=project_with_roles["annotator"])
    return images


@pytest.mark.django_db
def test_an_import_skips_images_held_by_the_review_or_a_lock_and_says_why(
    project_with_roles: dict, client_for: Any
) -> None:
    images = _held_project(project_with_roles)
    client = client_for(project_with_roles["manager"])
    data = _coco_of(["free.png", "final.png", "busy.png"])

    response = _import(client, project_with_roles["project"], "coco", data)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["images"] == 1 and body["annotations"] == 1
    skipped = {row["name"]: row for row in body["skipped"]}
    assert set(skipped) == {"final.png", "busy.png"}
    assert skipped["final.png"]["image"] == images["final.png"].pk
    assert "manager must reopen it" in skipped["final.png"]["reason"]
    assert "being edited by annotator" in skipped["busy.png"]["reason"]
    assert images["free.png"].annotations.count() == 1
    assert not images["final.png"].annotations.exists()
    assert not images["busy.png"].annotations.exists()


@pytest.mark.django_db
def test_a_submitted_image_is_skipped_for_an_importer_who_may_not_edit_it(
    project_with_roles: dict, client_for: Any
) -> None:
    # The rules of any edit: a submitted image is the reviewer's. A manager reviews, so their
    # import writes to it; only the lock or an acceptance stops them.
    p = project_with_roles["project"]
    image = factories.set_status(factories.image(p, name="sent.png"), "submitted")
    refusal = services.review.image_write_refusal(image=image, user=project_with_roles["annotator"])
    assert refusal is not None and "wait for the reviewer" in str(refusal)
    response = _import(client_for(project_with_roles["manager"]), p, "coco", _coco_of(["sent.png"]))
    assert response.status_code == 201 and response.json()["skipped"] == []


@pytest.mark.django_db
def test_an_import_with_every_image_held_is_a_409_that_stores_nothing(
    project_with_roles: dict, client_for: Any
) -> None:
    _held_project(project_with_roles)
    p = project_with_roles["project"]
    coco = json.loads(_coco_of(["final.png", "busy.png"]))
    coco["categories"][0]["name"] = "brand-new-label"
    client = client_for(project_with_roles["manager"])

    response = _import(client, p, "coco", json.dumps(coco).encode())

    assert response.status_code == 409, response.json()
    body = response.json()
    assert "Nothing was imported" in body["detail"] and "reopen" in body["detail"]
    assert {row["name"] for row in body["skipped"]} == {"final.png", "busy.png"}
    assert not Annotation.objects.filter(image__project=p).exists()
    assert not p.labels.filter(name="brand-new-label").exists()


def _boxes_zip(stems: list[str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for stem in stems:
            archive.writestr(f"{stem}.txt", "0 0.5 0.5 0.5 0.5\n")
    return out.getvalue()


@pytest.mark.django_db
def test_yolo_boxes_for_held_images_are_left_out_of_the_job_and_listed(
    project_with_roles: dict, client_for: Any
) -> None:
    images = _held_project(project_with_roles)
    p = project_with_roles["project"]
    client = client_for(project_with_roles["manager"])
    upload = factories.upload(_boxes_zip(["free", "final", "busy"]), "boxes.zip")

    response = _client_post_boxes(client, p, upload, p.labels.first().pk)

    assert response.status_code == 202, response.json()
    job = Job.objects.get(pk=response.json()["id"])
    assert list(job.params["boxes"]) == [str(images["free.png"].pk)]
    assert job.params["image_ids"] == [images["free.png"].pk]
    assert {row["name"] for row in response.json()["skipped"]} == {"final.png", "busy.png"}
    assert {row["name"] for row in job.skipped} == {"final.png", "busy.png"}

    # Every image held: no job at all.
    upload = factories.upload(_boxes_zip(["final", "busy"]), "boxes.zip")
    refused = _client_post_boxes(client, p, upload, p.labels.first().pk)
    assert refused.status_code == 409 and "Nothing was imported" in refused.json()["detail"]
    assert Job.objects.filter(project=p).count() == 1
