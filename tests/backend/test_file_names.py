"""File names from requests, archives and import files (Hardening, round two, classes 1 and 8):
a name at the limit of a file system exports to entries any file system unpacks and imports
back; NFC and NFD spellings of a name are one name; an upload spooled to disk with a long
extension is a 400, not a 500."""

from __future__ import annotations

import io
import json
import unicodedata
import zipfile
from typing import Any

import pytest

from annotator import services
from annotator.images import MAX_NAME_BYTES, name_within
from annotator.models import Annotation, Image
from tests import factories
from tests.backend.test_imports import _export, _import


def _entry_names(archive: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        return [info.filename for info in zf.infolist()]


@pytest.mark.django_db
@pytest.mark.parametrize("stem", ["a" * 251, "\u6f22" * 83], ids=["ascii-255", "multibyte-253"])
@pytest.mark.parametrize("fmt", ["yolo_seg", "masks"])
def test_a_name_at_the_limit_exports_to_short_entries_that_import_back(
    client_for: Any, stem: str, fmt: str
) -> None:
    name = stem + ".png"
    assert len(name.encode()) <= MAX_NAME_BYTES
    owner = factories.user()
    client = client_for(owner)
    data = factories.png_bytes(64, 48, seed=41)
    source = factories.project(owner=owner)
    image = factories.image(source, data=data, name=name)
    assert image.original_name == name  # kept whole, not cut
    label = source.labels.first()
    services.annotation_create(
        image=image, label=label, created_by=owner, polygons=factories.square(4, 4, 20)
    )

    exported = _export(client, source, fmt)

    for entry in _entry_names(exported):
        for part in entry.split("/"):
            assert len(part.encode()) <= MAX_NAME_BYTES, entry
    target = factories.project(owner=owner)
    factories.image(target, data=data, name=name)
    response = _import(client, target, fmt, exported, "export.zip")
    assert response.status_code == 201, response.json()
    assert Annotation.objects.filter(image__project=target).count() == 1


def test_name_within_cuts_at_a_character_boundary_and_keeps_the_extension() -> None:
    short = name_within("\u6f22" * 100 + ".png", max_bytes=100)
    assert short.endswith(".png") and len(short.encode()) <= 100
    assert short[:-4] == "\u6f22" * 32
    assert name_within("cat.png", max_bytes=100) == "cat.png"


@pytest.mark.django_db
def test_nfc_and_nfd_spellings_are_one_name(client_for: Any) -> None:
    owner = factories.user()
    client = client_for(owner)
    nfd = unicodedata.normalize("NFD", "Café-\u00e9t\u00e9.png")
    project = factories.project(owner=owner)
    image = factories.image(project, data=factories.png_bytes(64, 48, seed=42), name=nfd)
    assert image.original_name == unicodedata.normalize("NFC", nfd) != nfd

    coco = {
        "images": [{"id": 1, "file_name": nfd, "width": 64, "height": 48}],
        "categories": [{"id": 1, "name": "cat"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[4, 4, 20, 4, 20, 20]]}
        ],
    }

    response = _import(client, project, "coco", json.dumps(coco).encode(), "c.json")
    assert response.status_code == 201, response.json()
    assert Annotation.objects.filter(image=image).count() == 1


@pytest.mark.django_db
def test_an_import_spooled_to_disk_with_a_long_extension_is_read(
    client_for: Any, settings: Any
) -> None:
    # Over FILE_UPLOAD_MAX_MEMORY_SIZE Django spools to a temporary file named after the
    # client's extension; 300 bytes of it used to fail with ENAMETOOLONG before the view ran.
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 10
    owner = factories.user()
    client = client_for(owner)
    project = factories.project(owner=owner)
    factories.image(project, data=factories.png_bytes(64, 48, seed=43), name="a.png")
    coco = (
        b'{"images": [{"id": 1, "file_name": "a.png", "width": 64, "height": 48}],'
        b' "categories": [{"id": 1, "name": "cat"}], "annotations": []}'
    )
    file = io.BytesIO(coco)
    file.name = "c." + "\u6f22" * 100
    response = client.post(
        f"/api/projects/{project.pk}/imports/", {"file": file, "format": "coco"},
        format="multipart",
    )  # fmt: skip
    assert response.status_code == 201, response.content[:300]
    assert Image.objects.filter(project=project).count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["a" * 300, "\u6f22" * 100], ids=["ascii-300", "multibyte-100"])
def test_a_model_file_name_longer_than_a_file_name_is_a_404(
    client_for: Any, settings: Any, tmp_path: Any, name: str
) -> None:
    # The decoder's files are served by the name in the URL, from SAM_ONNX_DIR/<sha256>/: a
    # name no file system holds made stat raise ENAMETOOLONG (a 500) instead of answering no.
    sha = "ab" * 32
    settings.SAM_ONNX_DIR = str(tmp_path)
    (tmp_path / sha).mkdir()
    owner = factories.user()
    project = factories.project(owner=owner)
    project.sam_model.sha256 = sha
    project.sam_model.save()
    client = client_for(owner)
    client.raise_request_exception = False
    response = client.get(f"/api/models/{sha}/files/{name}")
    assert response.status_code == 404, response.content[:300]
    assert response.json()["detail"]
