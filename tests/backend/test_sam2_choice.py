"""A project chooses SAM 1 or SAM 2.1 among the offered checkpoints (SAM_CHECKPOINTS_OFFERED):
SAM 2.1 tiny is offered by default, the larger SAM 2.1 files are staff's decision like ViT-H,
and the API shows the choice by its name."""

from __future__ import annotations

from typing import Any

import pytest

from tests import factories


@pytest.mark.django_db
def test_a_project_can_choose_sam2_1_tiny_and_the_api_names_it(client_for: Any) -> None:
    client = client_for(factories.user("maker"))
    created = client.post(
        "/api/projects/", {"name": "s2", "sam_checkpoint": "sam2.1_hiera_tiny.pt"}, format="json"
    )
    assert created.status_code == 201, created.json()
    assert created.json()["sam_model"]["checkpoint"] == "sam2.1_hiera_tiny.pt"


@pytest.mark.django_db
def test_a_sam2_checkpoint_not_offered_is_a_403_and_staff_may_pick_it(client_for: Any) -> None:
    body = {"name": "big", "sam_checkpoint": "sam2.1_hiera_large.pt"}
    refused = client_for(factories.user("maker")).post("/api/projects/", body, format="json")
    assert refused.status_code == 403 and "not offered" in refused.json()["detail"]
    staff = factories.user("root", is_staff=True)
    assert client_for(staff).post("/api/projects/", body, format="json").status_code == 201


@pytest.mark.django_db
def test_an_offered_sam2_checkpoint_can_be_set_by_the_setting(
    client_for: Any, settings: Any
) -> None:
    settings.SAM_CHECKPOINTS_OFFERED = ["mobile_sam", "sam2.1_hiera_base_plus.pt"]
    body = {"name": "b+", "sam_checkpoint": "sam2.1_hiera_base_plus.pt"}
    created = client_for(factories.user("maker")).post("/api/projects/", body, format="json")
    assert created.status_code == 201, created.json()
