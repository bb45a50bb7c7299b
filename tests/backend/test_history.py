"""Annotation history: every write leaves one version (who, when, what changed), listed from the
image (deleted annotations too), and a revert writes a version back under the edit rules."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotator import services
from annotator.models import AnnotationVersion
from tests import factories


@pytest.fixture
def setup(project_with_roles: dict, client_for: Any) -> dict[str, Any]:
    image = factories.image(project_with_roles["project"], data=factories.png_bytes(64, 48))
    return {
        **project_with_roles,
        "image": image,
        "label": project_with_roles["project"].labels.first(),
        "client": client_for(project_with_roles["annotator"]),
        "reviewer_client": client_for(project_with_roles["reviewer"]),
        "viewer_client": client_for(project_with_roles["viewer"]),
    }


def _create(s: dict[str, Any]) -> dict[str, Any]:
    body = {"label": s["label"].pk, "polygons": factories.square(4, 4, 10)}
    response = s["client"].post(f"/api/images/{s['image'].pk}/annotations/", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def _patch(s: dict[str, Any], ann: dict[str, Any], **body: Any) -> Any:
    return s["client"].patch(
        f"/api/annotations/{ann['id']}/", {"version": ann["version"], **body}, format="json"
    )


def _history(s: dict[str, Any], client: Any = None, **query: Any) -> list[dict[str, Any]]:
    response = (client or s["client"]).get(f"/api/images/{s['image'].pk}/history", query)
    assert response.status_code == 200, response.content
    return response.json()["results"]


def _revert(s: dict[str, Any], client: Any = None, **body: Any) -> Any:
    return (client or s["client"]).post(
        f"/api/images/{s['image'].pk}/history/revert", body, format="json"
    )


@pytest.mark.django_db
def test_create_update_and_delete_each_leave_a_version_with_who_and_what_changed(
    setup: dict,
) -> None:
    ann = _create(setup)
    second = setup["project"].labels.create(name="history-dog", color="#00ff00")
    updated = _patch(setup, ann, label=second.pk)
    assert updated.status_code == 200, updated.content
    moved = _patch(setup, updated.json(), polygons=factories.square(20, 20, 8))
    assert moved.status_code == 200, moved.content
    gone = setup["client"].delete(f"/api/annotations/{ann['id']}/?version=3")
    assert gone.status_code == 204, gone.content

    # Listed from the image although the annotation is gone; newest first.
    rows = _history(setup, annotation=ann["id"])
    assert [(r["version"], r["action"]) for r in rows] == [
        (4, "delete"), (3, "update"), (2, "update"), (1, "create"),
    ]  # fmt: skip
    assert all(r["user_name"] == "annotator" and r["created_at"] for r in rows)
    assert rows[2]["changed"] == ["label"] and rows[2]["label"] == second.pk
    assert set(rows[1]["changed"]) == {"polygons", "rle", "bbox", "area"}
    assert "snapshot" not in rows[0]
    full = _history(setup, annotation=ann["id"], snapshot=1)
    assert full[0]["snapshot"]["bbox"] == [20, 20, 8, 8]
    assert set(full[0]["snapshot"]) == {
        "label", "kind", "polygons", "rle", "bbox", "area", "score", "source", "prompts",
        "attributes",
    }  # fmt: skip


@pytest.mark.django_db
def test_a_save_costs_one_insert_and_reads_no_history(setup: dict) -> None:
    ann = _create(setup)
    with CaptureQueriesContext(connection) as queries:
        response = _patch(setup, ann, polygons=factories.square(6, 6, 10))
    assert response.status_code == 200, response.content
    history = [q["sql"] for q in queries if "annotationversion" in q["sql"].lower()]
    assert len(history) == 1 and history[0].startswith("INSERT"), history


@pytest.mark.django_db
def test_revert_writes_the_old_version_back_as_a_new_one(setup: dict) -> None:
    ann = _create(setup)
    moved = _patch(setup, ann, polygons=factories.square(20, 20, 8), score=0.5).json()
    response = _revert(setup, annotation=ann["id"], to=1, version=moved["version"])
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["version"] == 3 and body["bbox"] == [4, 4, 10, 10] and body["score"] is None
    assert response["ETag"] == '"3"'
    top = _history(setup, annotation=ann["id"])[0]
    assert top["action"] == "revert" and top["reverted_to"] == 1
    assert "bbox" in top["changed"] and "score" in top["changed"]


@pytest.mark.django_db
def test_a_revert_from_a_stale_version_is_a_409_naming_the_current_one(setup: dict) -> None:
    ann = _create(setup)
    _patch(setup, ann, polygons=factories.square(20, 20, 8))
    response = _revert(setup, annotation=ann["id"], to=1, version=1)
    assert response.status_code == 409
    assert response.json()["current_version"] == 2 and "reload" in response.json()["detail"]


@pytest.mark.django_db
def test_a_revert_of_an_existing_annotation_needs_the_version_read(setup: dict) -> None:
    ann = _create(setup)
    response = _revert(setup, annotation=ann["id"], to=1)
    assert response.status_code == 400 and "version" in response.json()["detail"]


@pytest.mark.django_db
def test_reverting_a_deleted_annotation_restores_it_under_its_id(setup: dict) -> None:
    ann = _create(setup)
    setup["client"].delete(f"/api/annotations/{ann['id']}/")
    response = _revert(setup, annotation=ann["id"], to=1, version=2)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["id"] == ann["id"] and body["version"] == 3 and body["bbox"] == [4, 4, 10, 10]
    listed = setup["client"].get(f"/api/images/{setup['image'].pk}/annotations/").json()
    assert [a["id"] for a in listed["results"]] == [ann["id"]]
    # A second restore from the same read finds the history moved on.
    again = _revert(setup, annotation=ann["id"], to=1, version=2)
    assert again.status_code == 409, again.content


@pytest.mark.django_db
def test_a_restored_annotation_can_be_edited_deleted_and_restored_again(setup: dict) -> None:
    ann = _create(setup)
    setup["client"].delete(f"/api/annotations/{ann['id']}/")
    restored = _revert(setup, annotation=ann["id"], to=1).json()
    assert _patch(setup, restored, score=0.7).status_code == 200
    assert setup["client"].delete(f"/api/annotations/{ann['id']}/?version=4").status_code == 204
    assert _revert(setup, annotation=ann["id"], to=4).status_code == 201
    versions = [r["version"] for r in _history(setup, annotation=ann["id"])]
    assert versions == [6, 5, 4, 3, 2, 1]


@pytest.mark.django_db
def test_a_revert_to_a_version_that_does_not_exist_is_a_404(setup: dict) -> None:
    ann = _create(setup)
    response = _revert(setup, annotation=ann["id"], to=9, version=1)
    assert response.status_code == 404 and "no version 9" in response.json()["detail"]


@pytest.mark.django_db
def test_a_revert_to_a_version_whose_label_was_deleted_says_what_to_do(setup: dict) -> None:
    ann = _create(setup)
    dog = setup["project"].labels.create(name="history-dog", color="#00ff00")
    moved = _patch(setup, ann, label=dog.pk).json()
    cat = setup["label"]
    _patch(setup, moved, label=cat.pk)
    dog.delete()  # no annotation uses it now
    response = _revert(setup, annotation=ann["id"], to=2, version=3)
    assert response.status_code == 400 and "label" in response.json()["detail"]


@pytest.mark.django_db
def test_a_revert_obeys_the_review_rules_and_the_lock(setup: dict) -> None:
    ann = _create(setup)
    moved = _patch(setup, ann, score=0.5).json()
    factories.set_status(setup["image"], "accepted")
    response = _revert(setup, annotation=ann["id"], to=1, version=moved["version"])
    assert response.status_code == 409 and "reopen" in response.json()["detail"]
    factories.set_status(setup["image"], "in_progress")
    services.image_lock(image=setup["image"], user=setup["reviewer"])
    response = _revert(setup, annotation=ann["id"], to=1, version=moved["version"])
    assert response.status_code == 423 and "being edited by reviewer" in response.json()["detail"]
    # A viewer reads the history but never writes.
    assert _history(setup, setup["viewer_client"])
    refused = _revert(setup, setup["viewer_client"], annotation=ann["id"], to=1, version=2)
    assert refused.status_code == 403


@pytest.mark.django_db
def test_a_restore_of_a_deleted_annotation_obeys_the_review_rules(setup: dict) -> None:
    ann = _create(setup)
    setup["client"].delete(f"/api/annotations/{ann['id']}/")
    factories.set_status(setup["image"], "submitted")
    response = _revert(setup, annotation=ann["id"], to=1)
    assert response.status_code == 409 and "submitted" in response.json()["detail"]
    assert not setup["image"].annotations.exists()


@pytest.mark.django_db
def test_bulk_writes_record_one_version_per_annotation(setup: dict) -> None:
    first, second = _create(setup), _create(setup)
    response = setup["client"].post(
        "/api/annotations/bulk",
        {
            "image": setup["image"].pk,
            "delete": [first["id"], second["id"]],
            "versions": [1, 1],
            "create": [{"label": setup["label"].pk, "polygons": factories.square(1, 1, 5)}],
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    rows = AnnotationVersion.objects.filter(image=setup["image"])
    assert sorted(rows.values_list("action", flat=True)) == [
        "create", "create", "create", "delete", "delete",
    ]  # fmt: skip
    deleted = rows.get(annotation_id=first["id"], action="delete")
    assert deleted.version == 2 and deleted.snapshot["bbox"] == [4, 4, 10, 10]
    # Without read versions too.
    created = response.json()["created"][0]
    setup["client"].post(
        "/api/annotations/bulk",
        {"image": setup["image"].pk, "delete": [created["id"]]},
        format="json",
    )
    assert rows.filter(annotation_id=created["id"], action="delete").count() == 1


@pytest.mark.django_db
def test_a_kept_proposal_and_an_import_are_recorded_as_creates(setup: dict) -> None:
    from annotator import geometry

    mask = geometry.polygons_to_mask(factories.square(4, 4, 10), 48, 64)
    (proposal,) = services.proposals_create(
        image=setup["image"],
        items=[services.ProposalIn(rle=geometry.mask_to_rle(mask), score=0.8)],
        source="everything",
        created_by=setup["annotator"],
    )
    kept = services.proposal_keep(proposal=proposal, user=setup["annotator"], label=setup["label"])
    row = AnnotationVersion.objects.get(annotation_id=kept.pk)
    assert row.action == "create" and row.user == setup["annotator"] and row.version == 1
    assert row.snapshot["source"] == "auto" and row.snapshot["score"] == 0.8
