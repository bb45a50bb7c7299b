"""Shapes through the API: box annotations (and a box turned into a mask in place), image tags
under the edit lock and the review status, and label attributes defined by managers and checked
on every object write."""

from __future__ import annotations

from typing import Any

import pytest

from annotator import services
from annotator.models import Annotation, Label
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(project_with_roles: dict) -> dict[str, Any]:
    project = project_with_roles["project"]
    cat = project.labels.get(name="cat")
    dog = project.labels.get(name="dog")
    indoor = services.label_create(project=project, name="indoor", color="#00aaff", kind="tag")
    image = factories.image(project)  # 64 x 48
    return {**project_with_roles, "cat": cat, "dog": dog, "indoor": indoor, "image": image}


def _post(client: Any, image: Any, body: dict[str, Any]) -> Any:
    return client.post(f"/api/images/{image.pk}/annotations/", body, format="json")


# --- Boxes ----------------------------------------------------------------------------------------


def test_a_box_is_stored_with_its_bbox_and_the_rectangle_as_geometry(
    setup: dict, client_for: Any
) -> None:
    client = client_for(setup["annotator"])
    response = _post(client, setup["image"], {"label": setup["cat"].pk, "kind": "box",
                                              "bbox": [4, 6, 20, 10]})  # fmt: skip
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["kind"] == "box"
    assert body["bbox"] == [4, 6, 20, 10]
    assert body["area"] == 200
    assert body["polygons"][0]["outer"] == [[4, 6], [24, 6], [24, 16], [4, 16]]
    from annotator import geometry

    mask = geometry.rle_to_mask(body["rle"])
    assert mask.sum() == 200 and mask[6:16, 4:24].all()


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"bbox": [50, 40, 20, 20]}, "not inside the 64x48 image"),
        ({"bbox": [-1, 0, 5, 5]}, "not inside"),
        ({"bbox": [0, 0, 0.5, 5]}, "at least 1 pixel"),
        ({"bbox": [0, 0, 5]}, "four finite numbers"),
        ({"bbox": [0, 0, "5", 5]}, "four finite numbers"),
        ({"bbox": [1, 1, 5, 5], "polygons": factories.square(1, 1, 5)}, "not polygons or rle"),
        ({}, "needs its bbox"),
    ],
)
def test_a_malformed_box_is_refused_with_a_detail(
    setup: dict, client_for: Any, body: dict, detail: str
) -> None:
    client = client_for(setup["annotator"])
    response = _post(client, setup["image"], {"label": setup["cat"].pk, "kind": "box", **body})
    assert response.status_code == 400
    assert detail in str(response.json())
    assert not Annotation.objects.exists()


def test_a_mask_cannot_carry_a_bbox_of_its_own(setup: dict, client_for: Any) -> None:
    client = client_for(setup["annotator"])
    response = _post(client, setup["image"], {"label": setup["cat"].pk,
                                              "polygons": factories.square(1, 1, 5),
                                              "bbox": [0, 0, 9, 9]})  # fmt: skip
    assert response.status_code == 400 and "follows from its polygons" in response.json()["detail"]


def test_a_box_moves_by_its_bbox_and_becomes_a_mask_in_place(setup: dict, client_for: Any) -> None:
    client = client_for(setup["annotator"])
    box = _post(client, setup["image"], {"label": setup["cat"].pk, "kind": "box",
                                         "bbox": [4, 6, 20, 10]}).json()  # fmt: skip
    url = f"/api/annotations/{box['id']}/"
    moved = client.patch(url, {"version": 1, "bbox": [10, 10, 8, 8]}, format="json").json()
    assert moved["bbox"] == [10, 10, 8, 8] and moved["area"] == 64 and moved["kind"] == "box"
    refused = client.patch(
        url, {"version": 2, "polygons": factories.square(1, 1, 5)}, format="json"
    )
    assert refused.status_code == 400 and "bbox" in refused.json()["detail"]
    needs = client.patch(url, {"version": 2, "kind": "mask"}, format="json")
    assert needs.status_code == 400 and "polygons or rle" in needs.json()["detail"]
    # Box to SAM mask: the same object (id, label) with the mask's geometry, one version on.
    mask = client.patch(url, {"version": 2, "kind": "mask", "polygons": factories.square(11, 11, 5),
                              "score": 0.9}, format="json").json()  # fmt: skip
    assert (mask["id"], mask["kind"], mask["version"]) == (box["id"], "mask", 3)
    assert mask["bbox"] == [11, 11, 5, 5] and mask["label"] == setup["cat"].pk
    # And back (undo): a mask made a box again takes its own box when none is given.
    back = client.patch(url, {"version": 3, "kind": "box"}, format="json").json()
    assert back["kind"] == "box" and back["bbox"] == [11, 11, 5, 5]


def test_bulk_creates_boxes_too(setup: dict, client_for: Any) -> None:
    client = client_for(setup["annotator"])
    response = client.post("/api/annotations/bulk", {"image": setup["image"].pk, "create": [
        {"label": setup["cat"].pk, "kind": "box", "bbox": [1, 1, 4, 4]},
        {"label": setup["dog"].pk, "polygons": factories.square(8, 8, 4)},
    ]}, format="json")  # fmt: skip
    assert response.status_code == 200, response.json()
    assert [a["kind"] for a in response.json()["created"]] == ["box", "mask"]


# --- Tags -----------------------------------------------------------------------------------------


def test_an_annotator_tags_and_untags_the_image_and_the_image_shows_its_tags(
    setup: dict, client_for: Any
) -> None:
    client = client_for(setup["annotator"])
    image, indoor = setup["image"], setup["indoor"]
    url = f"/api/images/{image.pk}/tags/{indoor.pk}"
    assert client.post(url).json() == {"tags": [indoor.pk]}
    assert client.post(url).json() == {"tags": [indoor.pk]}  # idempotent
    assert client.get(f"/api/images/{image.pk}/").json()["tags"] == [indoor.pk]
    listed = client.get(f"/api/projects/{image.project_id}/images/?label={indoor.pk}").json()
    assert [i["id"] for i in listed["results"]] == [image.pk]
    image.refresh_from_db()
    assert image.status == "in_progress"  # tagging starts the image, as an annotation does
    assert client.delete(url).json() == {"tags": []}
    assert not image.tags.exists()


def test_tags_and_object_labels_do_not_mix(setup: dict, client_for: Any) -> None:
    client = client_for(setup["annotator"])
    image = setup["image"]
    wrong = client.post(f"/api/images/{image.pk}/tags/{setup['cat'].pk}")
    assert wrong.status_code == 400 and "object label" in wrong.json()["detail"]
    response = _post(client, image, {"label": setup["indoor"].pk,
                                     "polygons": factories.square(1, 1, 5)})  # fmt: skip
    assert response.status_code == 400 and "image tag" in response.json()["detail"]


def test_tags_respect_the_lock_the_review_status_and_read_only_roles(
    setup: dict, client_for: Any
) -> None:
    image, indoor = setup["image"], setup["indoor"]
    url = f"/api/images/{image.pk}/tags/{indoor.pk}"
    assert client_for(setup["viewer"]).post(url).status_code == 403
    services.image_lock(image=image, user=setup["reviewer"])
    locked = client_for(setup["annotator"]).post(url)
    assert locked.status_code == 423 and "being edited by reviewer" in locked.json()["detail"]
    services.image_unlock(image=image, user=setup["reviewer"])
    factories.set_status(image, "submitted")
    submitted = client_for(setup["annotator"]).post(url)
    assert submitted.status_code == 409 and "submitted" in submitted.json()["detail"]
    assert client_for(setup["reviewer"]).post(url).status_code == 200
    factories.set_status(image, "accepted")
    accepted = client_for(setup["manager"]).delete(url)
    assert accepted.status_code == 409 and "reopen" in accepted.json()["detail"]
    assert list(image.tags.values_list("id", flat=True)) == [indoor.pk]


def test_a_label_in_use_keeps_its_kind_and_a_tag_in_use_is_not_deleted(
    setup: dict, client_for: Any
) -> None:
    client = client_for(setup["manager"])
    project, image, indoor = setup["project"], setup["image"], setup["indoor"]
    services.image_tag_set(image=image, label=indoor, user=setup["annotator"], on=True)
    base = f"/api/projects/{project.pk}/labels/{indoor.pk}/"
    assert client.patch(base, {"kind": "object"}, format="json").status_code == 409
    assert client.delete(base).status_code == 409
    created = client.post(f"/api/projects/{project.pk}/labels/", {"name": "outdoor",
                                                                  "kind": "tag"}, format="json")  # fmt: skip
    assert created.status_code == 201 and created.json()["kind"] == "tag"
    kinds = {lb["name"]: lb["kind"] for lb in client.get(f"/api/projects/{project.pk}/").json()["labels"]}  # fmt: skip
    assert kinds == {"cat": "object", "dog": "object", "indoor": "tag", "outdoor": "tag"}


# --- Attributes -----------------------------------------------------------------------------------


def _attributes(setup: dict, client: Any) -> dict[str, Any]:
    url = f"/api/projects/{setup['project'].pk}/attributes/"
    made = {}
    for body in (
        {"name": "occluded", "type": "checkbox", "default": False},
        {"name": "truncated", "type": "checkbox"},
        {"name": "note", "type": "text"},
        {
            "name": "pose",
            "type": "select",
            "choices": ["front", "side", "back"],
            "default": "front",
        },
        {"name": "collar", "type": "checkbox", "label": setup["dog"].pk},
    ):
        response = client.post(url, body, format="json")
        assert response.status_code == 201, response.json()
        made[body["name"]] = response.json()
    return made


def test_managers_define_attributes_and_other_roles_only_read_them(
    setup: dict, client_for: Any
) -> None:
    url = f"/api/projects/{setup['project'].pk}/attributes/"
    body = {"name": "occluded", "type": "checkbox"}
    for role in ("viewer", "annotator", "reviewer"):
        assert client_for(setup[role]).post(url, body, format="json").status_code == 403
    assert client_for(setup["outsider"]).get(url).status_code == 404
    made = _attributes(setup, client_for(setup["manager"]))
    listed = client_for(setup["viewer"]).get(url).json()["results"]
    assert [a["name"] for a in listed] == list(made)
    project = client_for(setup["annotator"]).get(f"/api/projects/{setup['project'].pk}/").json()
    assert project["attributes"][3]["choices"] == ["front", "side", "back"]
    detail = f"{url}{made['note']['id']}/"
    assert client_for(setup["annotator"]).delete(detail).status_code == 403
    assert client_for(setup["owner"]).delete(detail).status_code == 204


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"name": "pose", "type": "select", "choices": []}, "needs 1 to"),
        ({"name": "pose", "type": "select", "choices": ["a", "a"]}, "repeat"),
        ({"name": "pose", "type": "select", "choices": ["a"], "default": "b"}, "one of 'a'"),
        ({"name": "x", "type": "checkbox", "default": "yes"}, "true or false"),
        ({"name": "x", "type": "text", "choices": ["a"]}, "Only select attributes"),
        ({"name": "x", "type": "colour"}, "valid choice"),
        ({"name": "x", "type": "text", "label": 10**9}, "not a label of this project"),
    ],
)
def test_a_malformed_attribute_definition_is_refused(
    setup: dict, client_for: Any, body: dict, detail: str
) -> None:
    url = f"/api/projects/{setup['project'].pk}/attributes/"
    response = client_for(setup["manager"]).post(url, body, format="json")
    assert response.status_code == 400 and detail in str(response.json())


def test_objects_get_defaults_and_only_valid_values(setup: dict, client_for: Any) -> None:
    _attributes(setup, client_for(setup["manager"]))
    client = client_for(setup["annotator"])
    created = _post(client, setup["image"], {"label": setup["cat"].pk, "kind": "box",
                                             "bbox": [1, 1, 9, 9],
                                             "attributes": {"note": "half hidden"}})  # fmt: skip
    assert created.status_code == 201, created.json()
    assert created.json()["attributes"] == {"occluded": False, "pose": "front",
                                            "note": "half hidden"}  # fmt: skip
    url = f"/api/annotations/{created.json()['id']}/"
    for values, detail in [
        ({"colour": "red"}, "Unknown attribute 'colour' for label 'cat'"),
        ({"collar": True}, "Unknown attribute 'collar'"),  # a dog's attribute
        ({"occluded": "yes"}, "'occluded' (checkbox) takes true or false"),
        ({"pose": "upside down"}, "takes one of 'front', 'side', 'back'"),
        ({"note": 3}, "takes a string"),
        ({"note": "a\x00b"}, "no NUL character"),
        (["occluded"], "must be an object"),
    ]:
        response = client.patch(url, {"version": 1, "attributes": values}, format="json")
        assert response.status_code == 400 and detail in response.json()["detail"], values
    patched = client.patch(url, {"version": 1, "attributes": {"occluded": True, "note": None,
                                                               "truncated": True}}, format="json")  # fmt: skip
    assert patched.json()["attributes"] == {"occluded": True, "pose": "front", "truncated": True}
    # Relabelled as a dog: the dog's attribute is now allowed, the common ones stay.
    dog = client.patch(url, {"version": 2, "label": setup["dog"].pk,
                             "attributes": {"collar": True}}, format="json").json()  # fmt: skip
    assert dog["attributes"] == {"occluded": True, "pose": "front", "truncated": True,
                                 "collar": True}  # fmt: skip
    back = client.patch(url, {"version": 3, "label": setup["cat"].pk}, format="json").json()
    assert "collar" not in back["attributes"]


def test_renaming_or_deleting_an_attribute_follows_on_every_object(
    setup: dict, client_for: Any
) -> None:
    manager = client_for(setup["manager"])
    made = _attributes(setup, manager)
    a = services.annotation_create(
        image=setup["image"], label=setup["cat"], created_by=setup["annotator"],
        polygons=factories.square(1, 1, 5), attributes={"pose": "side"},
    )  # fmt: skip
    base = f"/api/projects/{setup['project'].pk}/attributes/"
    pose = f"{base}{made['pose']['id']}/"
    dropped = manager.patch(pose, {"choices": ["front", "back"]}, format="json")
    assert dropped.status_code == 409 and "'side'" in dropped.json()["detail"]
    renamed = manager.patch(pose, {"name": "view", "choices": ["front", "side", "rear"]},
                            format="json")  # fmt: skip
    assert renamed.status_code == 200, renamed.json()
    a.refresh_from_db()
    assert a.attributes == {"occluded": False, "view": "side"}
    assert manager.delete(pose).status_code == 204
    a.refresh_from_db()
    assert a.attributes == {"occluded": False}


def test_a_tag_label_takes_no_attributes(setup: dict, client_for: Any) -> None:
    url = f"/api/projects/{setup['project'].pk}/attributes/"
    body = {"name": "x", "type": "text", "label": setup["indoor"].pk}
    response = client_for(setup["manager"]).post(url, body, format="json")
    assert response.status_code == 400 and "object label" in response.json()["detail"]
    assert Label.objects.get(pk=setup["indoor"].pk).kind == "tag"
