"""Annotations: CRUD, bulk, optimistic concurrency (stale update -> 409), locks, bad geometry."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from annotator import services
from tests import factories


@pytest.fixture
def setup(project_with_roles: dict, client_for: Any) -> dict[str, Any]:
    image = factories.image(project_with_roles["project"], data=factories.png_bytes(64, 48))
    return {
        **project_with_roles,
        "image": image,
        "label": project_with_roles["project"].labels.first(),
        "client": client_for(project_with_roles["annotator"]),
    }


def _create(s: dict[str, Any], **body: Any) -> Any:
    payload = {"label": s["label"].pk, "polygons": factories.square(4, 4, 10), **body}
    return s["client"].post(f"/api/images/{s['image'].pk}/annotations/", payload, format="json")


@pytest.mark.django_db
def test_an_annotation_stores_polygons_rle_bbox_and_area(setup: dict) -> None:
    response = _create(setup, source="sam", score=0.9, prompts={"points": [[5, 5]]})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["bbox"] == [4, 4, 10, 10] and body["area"] == 100
    assert body["rle"]["size"] == [48, 64] and body["version"] == 1
    assert body["source"] == "sam" and body["prompts"] == {"points": [[5, 5]]}


@pytest.mark.django_db
def test_an_annotation_can_be_given_as_rle(setup: dict) -> None:
    polygon = _create(setup).json()
    response = _create(setup, polygons=None, rle=polygon["rle"])
    assert response.status_code == 201, response.content
    assert response.json()["area"] == 100 and response.json()["polygons"]


@pytest.mark.django_db
def test_polygons_with_holes_keep_their_holes(setup: dict) -> None:
    ring = {
        "outer": [[0, 0], [20, 0], [20, 20], [0, 20]],
        "holes": [[[5, 5], [15, 5], [15, 15], [5, 15]]],
    }
    response = _create(setup, polygons=[ring])
    assert response.status_code == 201 and response.json()["area"] == 300


@pytest.mark.django_db
@pytest.mark.parametrize(
    "polygons",
    [
        "not a list",
        [{"outer": [[0, 0], [1, 1]], "holes": []}],
        [{"outer": [[0, 0], ["a", 1], [3, 3]], "holes": []}],
        [{"outer": [[0, 0], [1e9, 0], [1e9, 1e9]], "holes": []}],
        [{"outer": [[0, 0], [float("nan"), 0], [5, 5]], "holes": []}],
        [],
    ],
    ids=["not a list", "two points", "non-numeric", "far outside", "nan", "empty"],
)
def test_malformed_geometry_is_a_400(setup: dict, polygons: Any) -> None:
    import json

    body = json.dumps({"label": setup["label"].pk, "polygons": polygons}).replace("NaN", '"nan"')
    response = setup["client"].post(
        f"/api/images/{setup['image'].pk}/annotations/", body, content_type="application/json"
    )
    assert response.status_code == 400, response.content
    assert response.json()["detail"]


@pytest.mark.django_db
def test_a_label_of_another_project_is_a_400(setup: dict) -> None:
    other = factories.project()
    response = _create(setup, label=other.labels.first().pk)
    assert response.status_code == 400 and "label" in response.json()["detail"]


@pytest.mark.django_db
def test_an_rle_of_the_wrong_size_is_a_400(setup: dict) -> None:
    response = _create(setup, polygons=None, rle={"size": [2, 2], "counts": "04"})
    assert response.status_code == 400


@pytest.mark.django_db
def test_a_non_finite_score_is_a_400(setup: dict) -> None:
    for bad in ("nan", "inf", "-Infinity"):
        assert _create(setup, score=bad).status_code == 400


@pytest.mark.django_db
def test_an_update_bumps_the_version(setup: dict) -> None:
    created = _create(setup).json()
    url = f"/api/annotations/{created['id']}/"
    response = setup["client"].patch(
        url, {"version": 1, "polygons": factories.square(0, 0, 5)}, format="json"
    )
    assert response.status_code == 200 and response.json()["version"] == 2
    assert response.json()["area"] == 25 and response["ETag"] == '"2"'


@pytest.mark.django_db
def test_a_stale_update_gets_a_409_and_changes_nothing(setup: dict) -> None:
    created = _create(setup).json()
    url = f"/api/annotations/{created['id']}/"
    first = setup["client"].patch(url, {"version": 1, "score": 0.5}, format="json")
    second = setup["client"].patch(url, {"version": 1, "score": 0.7}, format="json")
    assert first.status_code == 200 and second.status_code == 409
    assert "version" in second.json()["detail"]
    assert setup["client"].get(url).json()["score"] == 0.5


@pytest.mark.django_db
def test_an_update_without_a_version_is_a_400(setup: dict) -> None:
    created = _create(setup).json()
    response = setup["client"].patch(
        f"/api/annotations/{created['id']}/", {"score": 1}, format="json"
    )
    assert response.status_code == 400 and "version" in response.json()["detail"]


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_stale_updates_let_exactly_one_win(setup: dict) -> None:
    """Two threads (two database connections) race with the same version: one 200, one 409."""
    annotation = factories.annotation(setup["image"])
    user = setup["annotator"]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def update(score: float) -> None:
        from django.db import connection

        try:
            barrier.wait()
            services.annotation_update(
                annotation=annotation, version=1, updated_by=user, score=score
            )
            outcomes.append("ok")
        except services.Conflict:
            outcomes.append("conflict")
        finally:
            connection.close()

    threads = [threading.Thread(target=update, args=(s,)) for s in (0.1, 0.2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "ok"]
    annotation.refresh_from_db()
    assert annotation.version == 2


@pytest.mark.django_db
def test_a_delete_with_a_stale_version_is_a_409(setup: dict) -> None:
    created = _create(setup).json()
    url = f"/api/annotations/{created['id']}/"
    setup["client"].patch(url, {"version": 1, "score": 0.5}, format="json")
    assert setup["client"].delete(url + "?version=1").status_code == 409
    assert setup["client"].delete(url + "?version=2").status_code == 204


@pytest.mark.django_db
def test_bulk_creates_and_deletes_in_one_transaction(setup: dict) -> None:
    old = factories.annotation(setup["image"])
    body = {
        "image": setup["image"].pk,
        "create": [
            {"label": setup["label"].pk, "polygons": factories.square(1, 1, 3)},
            {"label": setup["label"].pk, "polygons": factories.square(10, 10, 3)},
        ],
        "delete": [old.pk],
    }
    response = setup["client"].post("/api/annotations/bulk", body, format="json")
    assert response.status_code == 200, response.content
    assert len(response.json()["created"]) == 2
    assert list(setup["image"].annotations.values_list("area", flat=True)) == [9, 9]


@pytest.mark.django_db
def test_a_bad_item_in_a_bulk_request_changes_nothing(setup: dict) -> None:
    old = factories.annotation(setup["image"])
    body = {
        "image": setup["image"].pk,
        "create": [
            {"label": setup["label"].pk, "polygons": factories.square(1, 1, 3)},
            {"label": setup["label"].pk, "polygons": [{"outer": [[0, 0]], "holes": []}]},
        ],
        "delete": [old.pk],
    }
    response = setup["client"].post("/api/annotations/bulk", body, format="json")
    assert response.status_code == 400 and "create[1]" in response.json()["detail"]
    assert list(setup["image"].annotations.values_list("pk", flat=True)) == [old.pk]


@pytest.mark.django_db
def test_annotations_of_another_projects_image_cannot_be_bulk_deleted(setup: dict) -> None:
    foreign = factories.annotation(factories.image(factories.project()))
    body = {"image": setup["image"].pk, "delete": [foreign.pk]}
    assert setup["client"].post("/api/annotations/bulk", body, format="json").status_code == 400
    assert type(foreign).objects.filter(pk=foreign.pk).exists()


@pytest.mark.django_db
def test_a_locked_image_refuses_other_peoples_writes_with_423(setup: dict, client_for: Any) -> None:
    reviewer = client_for(setup["reviewer"])
    assert reviewer.post(f"/api/images/{setup['image'].pk}/lock").status_code == 200
    assert setup["client"].post(f"/api/images/{setup['image'].pk}/lock").status_code == 423
    assert _create(setup).status_code == 423
    assert reviewer.delete(f"/api/images/{setup['image'].pk}/lock").status_code == 200
    assert _create(setup).status_code == 201


@pytest.mark.django_db
def test_an_expired_lock_can_be_taken_over(setup: dict, client_for: Any, settings: Any) -> None:
    from datetime import timedelta

    from django.utils import timezone

    services.image_lock(image=setup["image"], user=setup["reviewer"])
    type(setup["image"]).objects.filter(pk=setup["image"].pk).update(
        locked_until=timezone.now() - timedelta(seconds=1)
    )
    response = setup["client"].post(f"/api/images/{setup['image'].pk}/lock")
    assert response.status_code == 200 and response.json()["locked_by"] == setup["annotator"].pk
