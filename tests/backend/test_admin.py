"""The Django admin: the changelists render, the bulk actions go through the services."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

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
