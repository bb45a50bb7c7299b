"""Auto-annotation jobs: box prompts (inline, or from a configured detector) become SAM masks
and then proposals (kept at once, as annotations with source `auto`, above `keep_above`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from annotator import services
from annotator.models import Job
from tests import factories


@pytest.fixture
def project(project_with_roles: dict, reference_dir: Path) -> Any:
    return factories.project(
        owner=project_with_roles["owner"],
        sam_checkpoint=str(reference_dir / "sam_vit_small.pth"),
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        (lambda i, lb: {"label": lb}, "exactly one of"),
        (lambda i, lb: {"boxes": {i: [[0, 0, 10, 10]]}}, "need `label`"),
        (lambda i, lb: {"boxes": {i: [[0, 0, "x", 10]]}, "label": lb}, "finite numbers"),
        (lambda i, lb: {"boxes": {i: [[0, 0, 10]]}, "label": lb}, "finite numbers"),
        (lambda i, lb: {"boxes": {"999999": [[0, 0, 10, 10]]}, "label": lb}, "not in this project"),
        (lambda i, lb: {"detector": "yolo11x.pt", "label": lb}, "Unknown detector"),
        (lambda i, lb: {"boxes": {i: [[0, 0, 10, 10]]}, "label": 999999}, "not a label"),
    ],
    ids=["neither", "no label", "text", "three numbers", "foreign image", "detector", "label"],
)
def test_bad_auto_annotation_params_are_a_400(
    project: Any, client_for: Any, params: Any, fragment: str
) -> None:
    image = factories.image(project)
    body = {"kind": "auto_annotate", "params": params(str(image.pk), project.labels.first().pk)}
    owner = project.memberships.get(role="owner").user
    response = client_for(owner).post(f"/api/projects/{project.pk}/jobs/", body, format="json")
    assert response.status_code == 400 and fragment in response.json()["detail"], response.content


@pytest.mark.django_db
@pytest.mark.slow
def test_inline_boxes_and_detector_boxes_become_proposals(
    project: Any, reference_dir: Path, settings: Any, tmp_path: Path
) -> None:
    owner = project.memberships.get(role="owner").user
    cat, dog = project.labels.order_by("id")
    image = factories.image(
        project, data=(reference_dir / "chelsea.png").read_bytes(), name="chelsea.png"
    )
    boxes = {str(image.pk): [[180.0, 10.0, 390.0, 200.0], [10.0, 10.0, 120.0, 120.0]]}
    job = services.job_create(
        project=project,
        kind="auto_annotate",
        created_by=owner,
        params={"boxes": boxes, "label": cat.pk},
    )
    job = services.job_run(job=job)
    assert job.status == Job.Status.DONE, job.error
    assert not image.annotations.exists()
    made = list(image.proposals.order_by("id"))
    assert len(made) == 2 and {(p.source, p.label_id) for p in made} == {("auto_annotate", cat.pk)}
    assert made[0].prompts == {"box": [180.0, 10.0, 390.0, 200.0]}
    kept = services.proposal_keep(proposal=made[0], user=owner)
    assert kept.source == "auto" and kept.prompts["mode"] == "auto_annotate"

    # A detector configured on the server: YOLO detection files, class 1 -> dog.
    folder = tmp_path / "detections"
    folder.mkdir()
    (folder / "chelsea.txt").write_text("1 0.5 0.5 0.4 0.4 0.9\n7 0.2 0.2 0.1 0.1 0.8\n")
    settings.AUTO_ANNOTATE_DETECTORS = {"files": str(folder)}
    params = {"detector": "files", "class_labels": {"1": dog.pk}, "image_ids": [image.pk],
              "keep_above": 0.5}  # fmt: skip
    job = services.job_run(
        job=services.job_create(
            project=project, kind="auto_annotate", created_by=owner, params=params
        )
    )
    assert job.status == Job.Status.DONE, job.error
    detected = list(image.annotations.filter(label=dog))
    # Class 7 has no label (no `label` fallback given), so only the class-1 box is proposed,
    # and its 0.9 is above keep_above: kept at once.
    assert len(detected) == 1 and detected[0].score == pytest.approx(0.9)
    assert job.proposals.get().status == "kept"
