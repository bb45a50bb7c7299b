"""Proposals over the API: each role, the image's lock, decided ones (409), bulk by score and
by box, another project's ids, and who may start everything mode."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from annotator import services
from annotator.geometry import mask_to_rle
from annotator.models import Annotation, Proposal
from tests import factories

pytestmark = pytest.mark.django_db


def _rle(img: Any, box: tuple[int, int, int, int]) -> dict:
    mask = np.zeros((img.height, img.width), bool)
    x0, y0, x1, y1 = box
    mask[y0:y1, x0:x1] = True
    return mask_to_rle(mask)


@pytest.fixture
def offered(project_with_roles: dict) -> dict[str, Any]:
    """An image with three pending proposals: a labelled sure one at top left, an unlabelled
    middling one at top right, and a labelled doubtful one at the bottom."""
    project = project_with_roles["project"]
    img = factories.image(project)
    cat = project.labels.get(name="cat")
    made = services.proposals_create(
        image=img,
        items=[
            services.ProposalIn(rle=_rle(img, (2, 2, 12, 12)), score=0.95, label=cat),
            services.ProposalIn(rle=_rle(img, (30, 2, 40, 12)), score=0.6),
            services.ProposalIn(rle=_rle(img, (2, 30, 12, 40)), score=0.2, label=cat),
        ],
        source=Proposal.Source.EVERYTHING,
        created_by=project_with_roles["owner"],
    )
    return {**project_with_roles, "image": img, "cat": cat, "proposals": made}


@pytest.mark.parametrize(
    ("role", "expected"),
    [("viewer", 403), ("annotator", 200), ("reviewer", 200), ("manager", 200), ("owner", 200),
     ("outsider", 404)],
)  # fmt: skip
def test_who_may_keep_a_proposal(offered: dict, client_for: Any, role: str, expected: int) -> None:
    sure = offered["proposals"][0]
    response = client_for(offered[role]).post(f"/api/proposals/{sure.pk}/keep", {}, format="json")
    assert response.status_code == expected, response.content
    if expected == 200:
        body = response.json()
        assert body["proposal"]["status"] == "kept"
        assert body["annotation"]["label"] == offered["cat"].pk
        assert body["proposal"]["annotation"] == body["annotation"]["id"]
        assert body["annotation"]["prompts"]["proposal"] == sure.pk
    else:
        assert "detail" in response.json()
        assert not Annotation.objects.filter(image=offered["image"]).exists()


@pytest.mark.parametrize(
    ("role", "expected"),
    [("viewer", 403), ("annotator", 200), ("reviewer", 200), ("outsider", 404)],
)
def test_who_may_drop_a_proposal(offered: dict, client_for: Any, role: str, expected: int) -> None:
    sure = offered["proposals"][0]
    response = client_for(offered[role]).post(f"/api/proposals/{sure.pk}/drop", format="json")
    assert response.status_code == expected, response.content
    sure.refresh_from_db()
    assert sure.status == ("dropped" if expected == 200 else "pending")


def test_the_list_shows_pending_proposals_by_default_and_filters_by_status(
    offered: dict, client_for: Any
) -> None:
    sure, middling, _ = offered["proposals"]
    client = client_for(offered["annotator"])
    assert client.post(f"/api/proposals/{sure.pk}/keep", format="json").status_code == 200
    url = f"/api/images/{offered['image'].pk}/proposals/"
    pending = client.get(url).json()["results"]
    assert [p["id"] for p in pending] == [middling.pk, offered["proposals"][2].pk]
    assert pending[0]["score"] == 0.6 and pending[0]["bbox"] == [30.0, 2.0, 10.0, 10.0]
    kept = client.get(url, {"status": "kept"}).json()["results"]
    assert [p["id"] for p in kept] == [sure.pk]
    assert len(client.get(url, {"status": "all"}).json()["results"]) == 3
    bad = client.get(url, {"status": "maybe"})
    assert bad.status_code == 400 and "status" in bad.json()["detail"]
    assert client_for(offered["viewer"]).get(url).status_code == 200
    assert client_for(offered["outsider"]).get(url).status_code == 404


def test_keeping_needs_a_label_when_none_is_suggested(offered: dict, client_for: Any) -> None:
    middling = offered["proposals"][1]
    client = client_for(offered["annotator"])
    url = f"/api/proposals/{middling.pk}/keep"
    refused = client.post(url, {}, format="json")
    assert refused.status_code == 400 and "Choose a label" in refused.json()["detail"]
    dog = offered["project"].labels.get(name="dog")
    kept = client.post(url, {"label": dog.pk}, format="json")
    assert kept.status_code == 200 and kept.json()["annotation"]["label"] == dog.pk


def test_a_decided_proposal_is_a_409(offered: dict, client_for: Any) -> None:
    sure = offered["proposals"][0]
    client = client_for(offered["annotator"])
    assert client.post(f"/api/proposals/{sure.pk}/drop", format="json").status_code == 200
    for action in ("keep", "drop"):
        again = client.post(f"/api/proposals/{sure.pk}/{action}", {}, format="json")
        assert again.status_code == 409 and "already dropped" in again.json()["detail"]
    assert not Annotation.objects.filter(image=offered["image"]).exists()


def test_another_users_lock_is_a_423_for_every_decision(offered: dict, client_for: Any) -> None:
    services.image_lock(image=offered["image"], user=offered["reviewer"])
    client = client_for(offered["annotator"])
    sure = offered["proposals"][0]
    for url, body in (
        (f"/api/proposals/{sure.pk}/keep", {}),
        (f"/api/proposals/{sure.pk}/drop", {}),
        (f"/api/images/{offered['image'].pk}/proposals/bulk", {"action": "keep", "min_score": 0}),
    ):
        response = client.post(url, body, format="json")
        assert response.status_code == 423 and "being edited" in response.json()["detail"], url
    assert Proposal.objects.filter(status="pending").count() == 3
    # The lock's holder decides.
    held = client_for(offered["reviewer"]).post(f"/api/proposals/{sure.pk}/keep", format="json")
    assert held.status_code == 200


def test_another_projects_label_and_proposal_are_refused(offered: dict, client_for: Any) -> None:
    other = factories.project(owner=offered["outsider"], name="Other")
    foreign_label = other.labels.first()
    client = client_for(offered["annotator"])
    sure = offered["proposals"][0]
    response = client.post(
        f"/api/proposals/{sure.pk}/keep", {"label": foreign_label.pk}, format="json"
    )
    assert (
        response.status_code == 400 and "not a label of this project" in response.json()["detail"]
    )
    foreign = services.proposals_create(
        image=(img := factories.image(other)),
        items=[services.ProposalIn(rle=_rle(img, (1, 1, 5, 5)), score=0.5)],
        source=Proposal.Source.EVERYTHING,
        created_by=offered["outsider"],
    )[0]
    for action in ("keep", "drop"):
        assert client.post(f"/api/proposals/{foreign.pk}/{action}").status_code == 404
    bulk = client.post(
        f"/api/images/{img.pk}/proposals/bulk", {"action": "drop", "min_score": 0}, format="json"
    )
    assert bulk.status_code == 404


def test_bulk_keeps_by_score_with_the_suggested_label(offered: dict, client_for: Any) -> None:
    client = client_for(offered["annotator"])
    url = f"/api/images/{offered['image'].pk}/proposals/bulk"
    # 0.5 and up takes the unlabelled 0.6 one too: refused whole, nothing kept.
    refused = client.post(url, {"action": "keep", "min_score": 0.5}, format="json")
    assert refused.status_code == 400 and "1 of these proposals" in refused.json()["detail"]
    assert not Annotation.objects.exists()
    kept = client.post(url, {"action": "keep", "min_score": 0.9}, format="json")
    assert kept.status_code == 200 and kept.json() == {"kept": 1, "skipped": 0}
    dog = offered["project"].labels.get(name="dog")
    kept = client.post(url, {"action": "keep", "min_score": 0.5, "label": dog.pk}, format="json")
    assert kept.json() == {"kept": 1, "skipped": 0}
    labels = sorted(Annotation.objects.values_list("label__name", flat=True))
    assert labels == ["cat", "dog"]
    assert Proposal.objects.filter(status="pending").count() == 1


def test_bulk_drops_what_lies_inside_a_box(offered: dict, client_for: Any) -> None:
    client = client_for(offered["annotator"])
    url = f"/api/images/{offered['image'].pk}/proposals/bulk"
    # The top band holds the two top proposals' bboxes whole; the bottom one is outside.
    dropped = client.post(url, {"action": "drop", "box": [0, 0, 50, 20]}, format="json")
    assert dropped.status_code == 200 and dropped.json() == {"dropped": 2, "skipped": 0}
    # Box and score together: inside the bottom band but below 0.5, so nothing.
    both = client.post(
        url, {"action": "keep", "box": [0, 20, 50, 50], "min_score": 0.5}, format="json"
    )
    assert both.json() == {"kept": 0, "skipped": 0}
    assert list(Proposal.objects.values_list("status", flat=True)) == [
        "dropped",
        "dropped",
        "pending",
    ]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"action": "keep"}, "min_score"),
        ({"action": "maybe", "min_score": 0.5}, "action"),
        ({"action": "keep", "min_score": 2}, "min_score"),
        ({"action": "keep", "box": [10, 10, 5, 20]}, "x0 < x1"),
        ({"action": "keep", "box": [1, 2, 3]}, "box"),
        ({"action": "keep", "min_score": "NaN"}, "min_score"),
    ],
)
def test_bad_bulk_requests_are_a_400(
    offered: dict, client_for: Any, body: dict, fragment: str
) -> None:
    url = f"/api/images/{offered['image'].pk}/proposals/bulk"
    response = client_for(offered["annotator"]).post(url, body, format="json")
    assert response.status_code == 400 and fragment in response.json()["detail"], response.content


def test_a_viewer_cannot_bulk_decide(offered: dict, client_for: Any) -> None:
    url = f"/api/images/{offered['image'].pk}/proposals/bulk"
    response = client_for(offered["viewer"]).post(url, {"action": "drop", "min_score": 0})
    assert response.status_code == 403
    assert Proposal.objects.filter(status="pending").count() == 3


def test_an_accepted_image_refuses_keeps_with_a_409(offered: dict, client_for: Any) -> None:
    factories.set_status(offered["image"], "accepted")
    sure = offered["proposals"][0]
    response = client_for(offered["manager"]).post(f"/api/proposals/{sure.pk}/keep")
    assert response.status_code == 409 and "reopen" in response.json()["detail"]
    sure.refresh_from_db()
    assert sure.status == "pending"


# Everything mode: an annotator may run it on the image they hold, within lower bounds.


def _everything(client: Any, project: Any, params: dict) -> Any:
    body = {"kind": "everything", "params": params}
    return client.post(f"/api/projects/{project.pk}/jobs/", body, format="json")


@pytest.mark.parametrize(
    ("role", "expected"),
    [("viewer", 403), ("annotator", 202), ("reviewer", 202), ("manager", 202), ("owner", 202),
     ("outsider", 404)],
)  # fmt: skip
def test_who_may_run_everything_mode_on_the_image_they_hold(
    project_with_roles: dict, client_for: Any, no_broker: list, role: str, expected: int
) -> None:
    project = project_with_roles["project"]
    img = factories.image(project)
    user = project_with_roles[role]
    if role != "outsider":
        services.image_lock(image=img, user=user)
    response = _everything(client_for(user), project, {"image_ids": [img.pk]})
    assert response.status_code == expected, response.content
    if expected == 202:
        assert response.json()["params"] == {"image_ids": [img.pk]}
        assert response.json()["proposals"] == {
            "pending": 0, "kept": 0, "dropped": 0, "refused": 0
        }  # fmt: skip


def test_an_annotators_everything_job_is_bounded_to_the_image_they_hold(
    project_with_roles: dict, client_for: Any, no_broker: list
) -> None:
    project = project_with_roles["project"]
    img, other = factories.image(project), factories.image(project, name="b.png")
    client = client_for(project_with_roles["annotator"])
    not_held = _everything(client, project, {"image_ids": [img.pk]})
    assert not_held.status_code == 403 and "edit lock" in not_held.json()["detail"]
    services.image_lock(image=other, user=project_with_roles["reviewer"])
    held_by_other = _everything(client, project, {"image_ids": [other.pk]})
    assert held_by_other.status_code == 423
    services.image_lock(image=img, user=project_with_roles["annotator"])
    for params, fragment in (
        ({}, "image_ids"),
        ({"image_ids": [img.pk, other.pk]}, "image_ids"),
        ({"image_ids": [img.pk], "points_per_side": 64}, "from 1 to 32"),
        ({"image_ids": [img.pk], "crop_n_layers": 1}, "from 0 to 0"),
        ({"image_ids": [img.pk], "keep_above": 1.5}, "keep_above"),
    ):
        response = _everything(client, project, params)
        assert response.status_code == 400 and fragment in response.json()["detail"], params
    export = client.post(
        f"/api/projects/{project.pk}/jobs/", {"kind": "export", "params": {}}, format="json"
    )
    assert export.status_code == 403 and "everything mode" in export.json()["detail"]
    ok = _everything(
        client, project, {"image_ids": [img.pk], "points_per_side": 32, "keep_above": 0.9}
    )
    assert ok.status_code == 202, ok.content
    # A manager keeps today's bounds, on any image.
    manager = client_for(project_with_roles["manager"])
    assert _everything(manager, project, {"points_per_side": 64}).status_code == 202
