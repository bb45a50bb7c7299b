"""Boxes, image tags and attributes through the exports and imports: COCO carries all three
(pycocotools loads the file, box and mask alike) and our own export imports into a fresh project
unchanged; YOLO-seg and PNG masks say in their README what they cannot carry."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest
from pycocotools.coco import COCO

from annotator import services
from annotator.models import Annotation, Attribute, Image
from tests import factories
from tests.backend.test_imports import _export, _import

pytestmark = pytest.mark.django_db


def _shaped_project(owner: Any, data: bytes) -> Any:
    project = factories.project(owner=owner)
    cat, dog = project.labels.order_by("id")
    indoor = services.label_create(project=project, name="indoor", kind="tag")
    services.label_create(project=project, name="blurry", kind="tag")  # set on no image
    services.attribute_create(project=project, name="occluded", type="checkbox", default=False)
    services.attribute_create(project=project, name="note", type="text")
    services.attribute_create(
        project=project, name="pose", type="select", choices=["front", "side"], label=dog
    )
    image = factories.image(project, data=data, name="scene.png")
    services.annotation_create(
        image=image, label=cat, created_by=owner, kind="box", bbox=[4, 6, 20, 10],
        attributes={"occluded": True, "note": "behind the chair"},
    )  # fmt: skip
    services.annotation_create(
        image=image, label=dog, created_by=owner, polygons=factories.square(30, 20, 12),
        attributes={"pose": "side"},
    )  # fmt: skip
    services.image_tag_set(image=image, label=indoor, user=owner, on=True)
    return project


def _summary(project: Any) -> dict[str, Any]:
    objects = sorted(
        (a.label.name, a.kind, [round(v, 3) for v in a.bbox], a.attributes)
        for a in Annotation.objects.filter(image__project=project).select_related("label")
    )
    tags = {i.original_name: sorted(t.name for t in i.tags.all()) for i in project.images.all()}
    specs = sorted(
        (a.name, a.type, a.default, a.choices, a.label.name if a.label else None)
        for a in Attribute.objects.filter(project=project).select_related("label")
    )
    kinds = dict(project.labels.values_list("name", "kind"))
    return {"objects": objects, "tags": tags, "specs": specs, "kinds": kinds}


def test_coco_carries_boxes_tags_and_attributes_and_imports_back_unchanged(
    client_for: Any,
) -> None:
    owner = factories.user()
    client = client_for(owner)
    data = factories.png_bytes(64, 48, seed=11)
    source = _shaped_project(owner, data)
    exported = _export(client, source, "coco")
    document = json.loads(exported)

    coco = COCO()
    coco.dataset = document
    coco.createIndex()
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == ["cat", "dog"]
    box, mask = coco.loadAnns(coco.getAnnIds())
    assert box["segmentation"] == [] and box["bbox"] == [4, 6, 20, 10] and box["area"] == 200
    assert box["attributes"] == {"occluded": True, "note": "behind the chair"}
    assert mask["segmentation"] and mask["attributes"] == {"occluded": False, "pose": "side"}
    assert coco.annToMask(mask).sum() == 144
    assert document["images"][0]["tags"] == ["indoor"]
    assert document["tags"] == ["indoor", "blurry"]
    assert {a["name"]: a["label"] for a in document["attributes"]} == {
        "occluded": None, "note": None, "pose": "dog"}  # fmt: skip

    target = factories.project(owner=owner, labels=[])
    factories.image(target, data=data, name="scene.png")
    response = _import(client, target, "coco", exported)
    assert response.status_code == 201, response.json()
    assert _summary(target) == _summary(source)


def test_a_cvat_style_coco_file_gets_attribute_definitions_inferred(client_for: Any) -> None:
    owner = factories.user()
    project = factories.project(owner=owner, labels=[])
    image = factories.image(project, name="a.png")
    document = {
        "images": [{"id": 1, "file_name": "a.png", "width": image.width, "height": image.height}],
        "categories": [{"id": 1, "name": "car"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 8],
                         "segmentation": [], "area": 80, "iscrowd": 0,
                         "attributes": {"occluded": False, "speed": 3.5, "plate": "AB-12"}}],
    }  # fmt: skip
    response = _import(client_for(owner), project, "coco", json.dumps(document).encode())
    assert response.status_code == 201, response.json()
    a = Annotation.objects.get(image=image)
    assert (a.kind, a.bbox, a.attributes) == (
        "box", [1, 2, 10, 8], {"occluded": False, "speed": 3.5, "plate": "AB-12"})  # fmt: skip
    types = dict(project.attributes.values_list("name", "type"))
    assert types == {"occluded": "checkbox", "speed": "number", "plate": "text"}


def test_an_import_that_breaks_an_attribute_definition_stores_nothing(client_for: Any) -> None:
    owner = factories.user()
    project = factories.project(owner=owner)
    services.attribute_create(project=project, name="occluded", type="checkbox")
    image = factories.image(project, name="a.png")
    document = {
        "images": [{"id": 1, "file_name": "a.png", "width": image.width, "height": image.height,
                    "tags": ["night"]}],
        "categories": [{"id": 1, "name": "cat"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 8],
                         "segmentation": [], "attributes": {"occluded": "partly"}}],
    }  # fmt: skip
    response = _import(client_for(owner), project, "coco", json.dumps(document).encode())
    assert response.status_code == 400
    assert "'occluded' (checkbox) takes true or false" in response.json()["detail"]
    assert not Annotation.objects.exists() and not project.labels.filter(name="night").exists()
    assert not Image.tags.through.objects.exists()


@pytest.mark.parametrize(("fmt", "readme"), [("yolo_seg", "README.txt"), ("masks", "README.txt")])
def test_yolo_seg_and_masks_say_what_they_cannot_carry_and_still_draw_boxes(
    client_for: Any, fmt: str, readme: str
) -> None:
    owner = factories.user()
    client = client_for(owner)
    data = factories.png_bytes(64, 48, seed=12)
    source = _shaped_project(owner, data)
    exported = _export(client, source, fmt)
    with zipfile.ZipFile(io.BytesIO(exported)) as archive:
        text = archive.read(readme).decode()
    assert "image tags" in text and "attributes" in text and "COCO" in text
    if fmt == "yolo_seg":
        assert "4-point polygons" in text
        with zipfile.ZipFile(io.BytesIO(exported)) as archive:
            yaml_names = archive.read("data.yaml").decode()
        assert "indoor" not in yaml_names  # a tag is no class
    # The box comes back as a mask of its rectangle (the format has no boxes).
    target = factories.project(owner=owner, labels=[])
    factories.image(target, data=data, name="scene.png")
    response = _import(client, target, fmt, exported, "export.zip")
    assert response.status_code == 201, response.json()
    cat = Annotation.objects.get(image__project=target, label__name="cat")
    assert cat.kind == "mask" and cat.bbox == [4, 6, 20, 10]
