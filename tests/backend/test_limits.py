"""One home for each limit (Hardening, round two, class 3): a label added through the API, a
project created through the services and an annotation import all stop at MAX_LABELS."""

from __future__ import annotations

import json
from typing import Any

import pytest

from annotator import services
from annotator.models import MAX_LABELS, Label
from annotator.services.errors import Invalid
from tests import factories
from tests.backend.test_imports import _import


def _full_project(owner: Any) -> Any:
    project = factories.project(owner=owner)
    missing = MAX_LABELS - project.labels.count()
    Label.objects.bulk_create(Label(project=project, name=f"l{i}") for i in range(missing))
    return project


@pytest.mark.django_db
def test_a_label_past_the_cap_is_refused_by_the_api(client_for: Any) -> None:
    owner = factories.user()
    project = _full_project(owner)
    response = client_for(owner).post(
        f"/api/projects/{project.pk}/labels/", {"name": "one more"}, format="json"
    )
    assert response.status_code == 400, response.json()
    assert f"no more than {MAX_LABELS} labels" in response.json()["detail"]
    assert project.labels.count() == MAX_LABELS


@pytest.mark.django_db
def test_project_create_holds_the_same_caps_as_its_serializer() -> None:
    owner = factories.user()
    with pytest.raises(Invalid, match="no more than"):
        services.project_create(
            name="p", created_by=owner, labels=[(f"l{i}", "#ff0000") for i in range(2001)]
        )
    with pytest.raises(Invalid, match="no more than"):
        services.project_create(name="p", created_by=owner, description="d" * 100_001)


@pytest.mark.django_db
def test_an_import_into_a_full_project_creates_no_label(client_for: Any) -> None:
    owner = factories.user()
    project = _full_project(owner)
    factories.image(project, data=factories.png_bytes(64, 48, seed=51), name="a.png")
    coco = {
        "images": [{"id": 1, "file_name": "a.png", "width": 64, "height": 48}],
        "categories": [{"id": 1, "name": "new"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[4, 4, 20, 4, 20, 20]]}
        ],
    }
    response = _import(client_for(owner), project, "coco", json.dumps(coco).encode(), "c.json")
    assert response.status_code == 400, response.json()
    assert project.labels.count() == MAX_LABELS


@pytest.mark.django_db
def test_an_imported_name_with_spaces_is_the_existing_label(client_for: Any) -> None:
    owner = factories.user()
    project = factories.project(owner=owner)
    factories.image(project, data=factories.png_bytes(64, 48, seed=52), name="a.png")
    coco = {
        "images": [{"id": 1, "file_name": "a.png", "width": 64, "height": 48}],
        "categories": [{"id": 1, "name": " cat "}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[4, 4, 20, 4, 20, 20]]}
        ],
    }
    response = _import(client_for(owner), project, "coco", json.dumps(coco).encode(), "c.json")
    assert response.status_code == 201, response.json()
    assert response.json()["labels_created"] == []
    assert project.labels.get(name="cat").annotations.count() == 1
