"""The Django admin: the changelists render, the bulk actions go through the services."""

from __future__ import annotations

import hashlib
import io
import zipfile
from typing import Any

import pytest
from django.test import Client
from PIL import Image as PILImage

from annotator.models import Embedding, Image, Job
from tests import factories


@pytest.fixture
def admin_client_(db: None) -> tuple[Client, Any]:
    admin = factories.user("root", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)
    return client, admin


@pytest.mark.django_db
def test_the_admin_lists_images_with_thumbnails_and_embedding_status(admin_client_: tuple) -> None:
    client, admin = admin_client_
    image = factories.image(factories.project(owner=admin))
    response = client.get("/admin/annotator/image/?embedding=pending")
    assert response.status_code == 200
    body = response.content.decode()
    thumbnail = f"/admin/annotator/image/{image.pk}/thumbnail/64/"
    assert thumbnail in body and "pending" in body
    response = client.get(thumbnail)
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert client.get(f"/admin/annotator/image/{image.pk}/change/").status_code == 200
    for page in ("project", "annotation", "embedding", "job", "sammodel"):
        assert client.get(f"/admin/annotator/{page}/").status_code == 200
    project = image.project
    assert client.get(f"/admin/annotator/project/{project.pk}/change/").status_code == 200


@pytest.mark.django_db
def test_the_compute_action_requeues_embeddings(admin_client_: tuple, no_broker: list) -> None:
    client, admin = admin_client_
    image = factories.image(factories.project(owner=admin))
    Embedding.objects.filter(image=image).update(status="failed", error="boom")
    response = client.post(
        "/admin/annotator/image/",
        {"action": "compute_embeddings", "_selected_action": [image.pk]},
    )
    assert response.status_code == 302
    assert Embedding.objects.get(image=image).status == "pending"


@pytest.mark.django_db
def test_the_assign_action_asks_then_assigns(admin_client_: tuple) -> None:
    client, admin = admin_client_
    project = factories.project(owner=admin)
    annotator = factories.member(project, "annotator")
    image = factories.image(project)
    form = {"action": "assign", "_selected_action": [image.pk]}
    assert b"Assign 1 image" in client.post("/admin/annotator/image/", form).content
    client.post("/admin/annotator/image/", {**form, "apply": "1", "assignee": annotator.pk})
    assert Image.objects.get(pk=image.pk).assignee == annotator


@pytest.mark.django_db
def test_the_export_action_starts_a_job(admin_client_: tuple, no_broker: list) -> None:
    client, admin = admin_client_
    image = factories.image(factories.project(owner=admin))
    client.post(
        "/admin/annotator/image/", {"action": "export_coco", "_selected_action": [image.pk]}
    )
    job = Job.objects.get(project=image.project)
    assert job.params == {"format": "coco", "image_ids": [image.pk]}


@pytest.mark.django_db
def test_the_delete_action_removes_images_with_their_annotations(admin_client_: tuple) -> None:
    client, admin = admin_client_
    image = factories.image(factories.project(owner=admin))
    factories.annotation(image)
    client.post(
        "/admin/annotator/image/",
        {"action": "delete_with_annotations", "_selected_action": [image.pk]},
    )
    assert not Image.objects.filter(pk=image.pk).exists()


# --- The admin's "Add image": an upload through services.image_import ----------------------------


def _upload(client: Client, project: Any, *files: Any) -> Any:
    return client.post(
        "/admin/annotator/image/add/", {"project": project.pk, "files": list(files)}, follow=True
    )


@pytest.mark.django_db
def test_the_add_image_page_is_an_upload_form(admin_client_: tuple) -> None:
    client, _ = admin_client_
    response = client.get("/admin/annotator/image/add/")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'enctype="multipart/form-data"' in body and 'name="files"' in body
    assert 'name="project"' in body and 'name="original_name"' not in body


@pytest.mark.django_db
def test_an_admin_upload_goes_through_the_upload_service(
    admin_client_: tuple, no_broker: list
) -> None:
    client, admin = admin_client_
    project = factories.project(owner=admin)
    # A CMYK JPEG: the service stores it as RGB and hashes the uploaded bytes.
    cmyk = io.BytesIO()
    PILImage.new("CMYK", (40, 30), (0, 80, 80, 0)).save(cmyk, format="JPEG")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("inside/one.png", factories.png_bytes(seed=11))
    response = _upload(
        client, project,
        factories.upload(cmyk.getvalue(), "cmyk.jpg"), factories.upload(archive.getvalue(), "a.zip"),
    )  # fmt: skip
    assert response.status_code == 200
    assert "Uploaded 2 image(s)" in response.content.decode()
    images = {image.original_name: image for image in project.images.all()}
    assert set(images) == {"cmyk.jpg", "one.png"}
    cmyk_image = images["cmyk.jpg"]
    assert cmyk_image.sha256 == hashlib.sha256(cmyk.getvalue()).hexdigest()
    assert cmyk_image.uploaded_by == admin
    with cmyk_image.file.open("rb") as f, PILImage.open(f) as stored:
        assert stored.mode == "RGB" and stored.size == (40, 30)
    assert Embedding.objects.filter(image__project=project).count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize("case", ["duplicate", "not_an_image"])
def test_a_refused_admin_upload_stores_nothing_and_says_why(
    admin_client_: tuple, case: str
) -> None:
    client, admin = admin_client_
    project = factories.project(owner=admin)
    kept = factories.image(project, data=factories.png_bytes(seed=3))
    bad = (
        factories.upload(factories.png_bytes(seed=3), "again.png")
        if case == "duplicate"
        else factories.upload(b"not an image at all", "notes.png")
    )
    response = _upload(
        client, project, factories.upload(factories.png_bytes(seed=4), "ok.png"), bad
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "Nothing was uploaded" in body
    assert ("already has this image" in body) if case == "duplicate" else ("notes.png" in body)
    assert list(project.images.all()) == [kept]


@pytest.mark.django_db
def test_the_upload_form_needs_files_and_a_project(admin_client_: tuple) -> None:
    client, _ = admin_client_
    response = client.post("/admin/annotator/image/add/", {})
    assert response.status_code == 200 and Image.objects.count() == 0
    assert response.content.decode().count("This field is required") == 2


@pytest.mark.django_db
def test_staff_without_the_add_permission_cannot_upload(db: None) -> None:
    staff = factories.user("staff", is_staff=True)
    client = Client()
    client.force_login(staff)
    assert client.get("/admin/annotator/image/add/").status_code == 403
