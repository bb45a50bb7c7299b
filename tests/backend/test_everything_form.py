"""What the everything dialogs read (GET projects/{id}/ `everything`): the defaults a job runs
with and the bounds job_create checks, for the caller's role, so the page states no number of
its own. And the ticked statuses narrow an everything job's images as they do any job's."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from rest_framework.test import APIClient

from annotator import selectors, services
from annotator.models import Image, Role
from annotator.services.errors import Invalid
from annotator.services.everything import EVERYTHING_PARAMS, GENERATOR_DEFAULTS
from annotator.services.job_params import job_params_check
from tests import factories


def test_the_generator_defaults_are_the_generators_own() -> None:
    from annotator.sam import SamAutomaticMaskGenerator
    from annotator.sam2 import SAM2AutomaticMaskGenerator

    for family, generator in (
        ("sam1", SamAutomaticMaskGenerator),
        ("sam2", SAM2AutomaticMaskGenerator),
    ):
        signature = inspect.signature(generator).parameters
        own = {key: signature[key].default for key in EVERYTHING_PARAMS}
        assert GENERATOR_DEFAULTS[family] == own, family


def _form(project: Any, user: Any) -> dict[str, Any]:
    client = APIClient()
    client.force_authenticate(user)
    res = client.get(f"/api/projects/{project.pk}/")
    assert res.status_code == 200, res.content
    return res.json()["everything"]


@pytest.mark.django_db
def test_a_manager_reads_the_defaults_and_bounds_job_create_applies() -> None:
    owner = factories.user("owner")
    project = factories.project(owner=owner, sam_checkpoint="mobile_sam")
    form = _form(project, owner)
    assert form["defaults"] == {
        "points_per_side": 16, "points_per_batch": 64, "pred_iou_thresh": 0.88,
        "stability_score_thresh": 0.95, "box_nms_thresh": 0.7, "min_mask_region_area": 0,
        "crop_n_layers": 0,
    }  # fmt: skip
    assert form["bounds"]["points_per_side"] == {"integer": True, "min": 1, "max": 128}
    assert form["bounds"]["pred_iou_thresh"] == {"integer": False, "min": 0, "max": 1}
    assert form["max_prompts"] == 32_768

    # The prefilled form is a job job_create takes; one past a bound, it answers in words.
    job_params_check(project=project, kind="everything", params=dict(form["defaults"]))
    with pytest.raises(Invalid, match="`crop_n_layers` must be an integer from 0 to 3, got 4"):
        job_params_check(project=project, kind="everything", params={"crop_n_layers": 4})


@pytest.mark.django_db
def test_an_annotator_reads_an_annotators_lower_bounds() -> None:
    project = factories.project(sam_checkpoint="mobile_sam")
    form = _form(project, factories.member(project, Role.ANNOTATOR))
    assert form["bounds"]["points_per_side"]["max"] == 32
    assert form["bounds"]["crop_n_layers"] == {"integer": True, "min": 0, "max": 0}


@pytest.mark.django_db
def test_the_defaults_follow_the_family_and_a_registered_file_leaves_its_own_out() -> None:
    owner = factories.user("owner", is_staff=True)
    sam2 = factories.project(owner=owner, sam_checkpoint="sam2.1_hiera_tiny.pt")
    assert _form(sam2, owner)["defaults"]["pred_iou_thresh"] == 0.8
    registered = factories.project(owner=owner, sam_checkpoint="/models/ours.pt")
    defaults = _form(registered, owner)["defaults"]
    assert "pred_iou_thresh" not in defaults
    assert defaults["stability_score_thresh"] == 0.95 and defaults["points_per_side"] == 16


@pytest.mark.django_db
def test_an_everything_job_on_ticked_statuses_runs_on_those_images_only() -> None:
    owner = factories.user("owner")
    project = factories.project(owner=owner)
    fresh = factories.image(project)
    factories.set_status(factories.image(project), Image.Status.SUBMITTED)
    job = services.job_create(
        project=project, kind="everything", created_by=owner, params={"status": ["new"]}
    )
    assert list(selectors.job_images(job=job)) == [fresh]
