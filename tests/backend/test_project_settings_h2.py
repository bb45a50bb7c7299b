"""Hardening, round two, class 8 (part): renaming a project is the owner's, as permissions.py
says (Can.OWN), while a manager still edits the description; the project's SAM checkpoint is
shown to members by name, never as a path on the server."""

from __future__ import annotations

from typing import Any

import pytest

from annotator.models import SamModel
from tests import factories


@pytest.mark.django_db
def test_a_manager_edits_the_description_but_cannot_rename(
    project_with_roles: dict[str, Any], client_for: Any
) -> None:
    project = project_with_roles["project"]
    url = f"/api/projects/{project.pk}/"
    manager = client_for(project_with_roles["manager"])

    refused = manager.patch(url, {"name": "Mine now"}, format="json")
    assert refused.status_code == 403, refused.json()
    assert "needs its owner" in refused.json()["detail"]
    edited = manager.patch(url, {"description": "notes"}, format="json")
    assert edited.status_code == 200, edited.json()
    project.refresh_from_db()
    assert project.description == "notes" and project.name != "Mine now"

    renamed = client_for(project_with_roles["owner"]).patch(url, {"name": "Cells"}, format="json")
    assert renamed.status_code == 200 and renamed.json()["name"] == "Cells"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "checkpoint,shown",
    [
        ("/srv/secret/models/sam_vit_b_01ec64.pth", "sam_vit_b_01ec64.pth"),
        ("C:\\models\\mobile_sam.pt", "mobile_sam.pt"),
        ("mobile_sam", "mobile_sam"),
    ],
)
def test_the_checkpoint_is_shown_by_name_not_by_server_path(
    client_for: Any, checkpoint: str, shown: str
) -> None:
    owner = factories.user()
    project = factories.project(owner=owner)
    model, _ = SamModel.objects.get_or_create(checkpoint=checkpoint)
    project.sam_model = model
    project.save()
    viewer = factories.user("viewer-h2")
    project.memberships.create(user=viewer, role="viewer")

    for client in (client_for(viewer), client_for(owner)):
        body = client.get(f"/api/projects/{project.pk}/").json()
        assert body["sam_model"]["checkpoint"] == shown
        listed = client.get("/api/projects/").json()
        rows = listed["results"] if isinstance(listed, dict) else listed
        assert "/srv/secret" not in str(rows) and "C:\\\\models" not in str(rows)
