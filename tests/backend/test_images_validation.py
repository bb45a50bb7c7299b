"""Upload validation: every kind of bad image is a 4xx with a message, never a 500."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import numpy as np
import pytest
from PIL import Image as PILImage

from annotator.images import ImageRejected, normalise_image
from tests import factories


def _encode(image: PILImage.Image, fmt: str, **kw: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **kw)
    return out.getvalue()


def test_an_rgb_png_is_stored_byte_for_byte() -> None:
    data = factories.png_bytes(32, 16)
    result = normalise_image(data)
    assert result.content == data and (result.width, result.height) == (32, 16)


def test_exif_rotation_is_applied_before_storing() -> None:
    image = PILImage.new("RGB", (40, 20), (10, 20, 30))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    result = normalise_image(_encode(image, "JPEG", exif=exif))
    assert (result.width, result.height) == (20, 40)
    assert result.extension == "png"


@pytest.mark.parametrize(
    "mode", ["CMYK", "L", "LA", "RGBA", "P", "I;16", "1"], ids=lambda m: f"mode {m}"
)
def test_unusual_modes_are_converted_to_rgb(mode: str) -> None:
    rgb = PILImage.new("RGB", (8, 6), (200, 100, 50))
    image = PILImage.new("I;16", (8, 6), 40000) if mode == "I;16" else rgb.convert(mode)
    fmt = "TIFF" if mode == "CMYK" else "PNG"
    result = normalise_image(_encode(image, fmt))
    stored = PILImage.open(io.BytesIO(result.content))
    assert stored.mode == "RGB" and stored.size == (8, 6)


def test_sixteen_bit_grey_is_scaled_not_clipped() -> None:
    image = PILImage.fromarray(np.full((4, 4), 65535, dtype=np.uint16))
    stored = PILImage.open(io.BytesIO(normalise_image(_encode(image, "PNG")).content))
    assert np.asarray(stored).min() == 255


def test_transparent_pixels_become_white() -> None:
    image = PILImage.new("RGBA", (4, 4), (0, 0, 0, 0))
    stored = PILImage.open(io.BytesIO(normalise_image(_encode(image, "PNG")).content))
    assert np.asarray(stored).min() == 255


def test_text_is_not_an_image() -> None:
    with pytest.raises(ImageRejected, match="not an image"):
        normalise_image(b"hello, world", name="notes.txt")


def test_a_truncated_png_is_refused() -> None:
    data = factories.png_bytes(256, 256)
    with pytest.raises(ImageRejected, match="truncated"):
        normalise_image(data[: len(data) // 2])


def test_a_decompression_bomb_is_refused_before_decoding(settings: Any) -> None:
    settings.IMAGE_MAX_PIXELS = 1000
    with pytest.raises(ImageRejected, match="IMAGE_MAX_PIXELS"):
        normalise_image(factories.png_bytes(100, 100))


def test_a_huge_declared_png_is_refused_by_its_header(settings: Any) -> None:
    # A 1-bit PNG of zeros compresses to almost nothing but decodes to width x height pixels.
    settings.IMAGE_MAX_PIXELS = 1_000_000
    data = _encode(PILImage.new("1", (4000, 4000)), "PNG")
    assert len(data) < 20_000
    with pytest.raises(ImageRejected, match="over the limit"):
        normalise_image(data)


def test_too_many_bytes_are_refused(settings: Any) -> None:
    settings.IMAGE_MAX_UPLOAD_BYTES = 100
    with pytest.raises(ImageRejected) as info:
        normalise_image(factories.png_bytes(32, 32))
    assert info.value.code == "too_large"


# --- Through the API ---------------------------------------------------------------------------


def _post(client: Any, project_id: int, *files: tuple[str, bytes]) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    uploads = [SimpleUploadedFile(name, data) for name, data in files]
    return client.post(
        f"/api/projects/{project_id}/images/", {"files": uploads}, format="multipart"
    )


def _zip(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return out.getvalue()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "data", "status", "fragment"),
    [
        ("notes.txt", b"plain text", 400, "not an image"),
        ("cut.png", factories.png_bytes(200, 200, seed=1)[:500], 400, "truncated"),
        ("empty.png", b"", 400, "empty"),
    ],
    ids=["not an image", "truncated", "empty file"],
)
def test_bad_uploads_get_a_400_with_a_message(
    project_with_roles: dict, client_for: Any, name: str, data: bytes, status: int, fragment: str
) -> None:
    client = client_for(project_with_roles["manager"])
    response = _post(client, project_with_roles["project"].pk, (name, data))
    assert response.status_code == status, response.content
    assert fragment in response.json()["detail"]


@pytest.mark.django_db
def test_a_bomb_upload_gets_a_400(project_with_roles: dict, client_for: Any, settings: Any) -> None:
    settings.IMAGE_MAX_PIXELS = 100
    client = client_for(project_with_roles["manager"])
    response = _post(client, project_with_roles["project"].pk, ("big.png", factories.png_bytes()))
    assert response.status_code == 400 and "IMAGE_MAX_PIXELS" in response.json()["detail"]


@pytest.mark.django_db
def test_an_oversized_upload_gets_a_413(
    project_with_roles: dict, client_for: Any, settings: Any
) -> None:
    settings.IMAGE_MAX_UPLOAD_BYTES = 50
    client = client_for(project_with_roles["manager"])
    response = _post(client, project_with_roles["project"].pk, ("big.png", factories.png_bytes()))
    assert response.status_code == 413


@pytest.mark.django_db
def test_a_zip_imports_every_image_in_it(project_with_roles: dict, client_for: Any) -> None:
    archive = _zip(
        {"a/one.png": factories.png_bytes(seed=5), "two.png": factories.png_bytes(seed=6)}
    )
    client = client_for(project_with_roles["manager"])
    response = _post(client, project_with_roles["project"].pk, ("batch.zip", archive))
    assert response.status_code == 201, response.content
    assert sorted(i["original_name"] for i in response.json()) == ["one.png", "two.png"]


@pytest.mark.django_db
@pytest.mark.parametrize("entry", ["../evil.png", "/etc/evil.png", "a/../../evil.png"])
def test_a_zip_entry_that_escapes_the_archive_refuses_the_whole_zip(
    project_with_roles: dict, client_for: Any, entry: str
) -> None:
    archive = _zip({"fine.png": factories.png_bytes(seed=7), entry: factories.png_bytes(seed=8)})
    client = client_for(project_with_roles["manager"])
    response = _post(client, project_with_roles["project"].pk, ("evil.zip", archive))
    detail = response.json()["detail"]
    assert response.status_code == 400 and ("escapes" in detail or "absolute" in detail)
    assert project_with_roles["project"].images.count() == 0


@pytest.mark.django_db
def test_one_bad_file_in_a_batch_stores_none_of_them(
    project_with_roles: dict, client_for: Any, media_root: Any
) -> None:
    client = client_for(project_with_roles["manager"])
    response = _post(
        client,
        project_with_roles["project"].pk,
        ("good.png", factories.png_bytes(seed=9)),
        ("bad.png", b"nope"),
    )
    assert response.status_code == 400 and "bad.png" in response.json()["detail"]
    assert project_with_roles["project"].images.count() == 0
    # The good file stored before the bad one was found is removed again.
    assert not any(path.is_file() for path in media_root.rglob("*"))


@pytest.mark.django_db
def test_the_same_file_twice_in_a_project_is_a_409(
    project_with_roles: dict, client_for: Any
) -> None:
    client = client_for(project_with_roles["manager"])
    data = factories.png_bytes(seed=10)
    assert _post(client, project_with_roles["project"].pk, ("a.png", data)).status_code == 201
    response = _post(client, project_with_roles["project"].pk, ("b.png", data))
    assert response.status_code == 409 and "already has this image" in response.json()["detail"]


@pytest.mark.django_db
def test_the_same_file_may_be_in_two_projects(client_for: Any) -> None:
    owner = factories.user()
    first, second = factories.project(owner=owner), factories.project(owner=owner)
    data = factories.png_bytes(seed=11)
    client = client_for(owner)
    assert _post(client, first.pk, ("a.png", data)).status_code == 201
    assert _post(client, second.pk, ("a.png", data)).status_code == 201


@pytest.mark.django_db
def test_an_upload_enqueues_its_embedding_after_commit(
    project_with_roles: dict,
    client_for: Any,
    no_broker: list,
    django_capture_on_commit_callbacks: Any,
) -> None:
    client = client_for(project_with_roles["manager"])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = _post(client, project_with_roles["project"].pk, ("a.png", factories.png_bytes()))
        assert response.status_code == 201
        assert no_broker == []  # nothing is sent before the upload's transaction commits
    assert response.json()[0]["embedding_status"] == "pending"
    for callback in callbacks:
        callback()
    assert [name for name, _ in no_broker] == ["embedding_compute_task"]


@pytest.mark.django_db
def test_a_zip_bomb_is_refused_from_its_central_directory(
    project_with_roles: dict, client_for: Any
) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.png", b"\0" * (20 * 1024 * 1024))
    client = client_for(project_with_roles["manager"])
    response = _post(client, project_with_roles["project"].pk, ("bomb.zip", out.getvalue()))
    assert response.status_code == 400 and "bomb" in response.json()["detail"]


@pytest.mark.django_db
def test_a_zip_that_expands_past_the_limit_is_refused(
    project_with_roles: dict, client_for: Any, settings: Any
) -> None:
    settings.IMAGE_MAX_ZIP_BYTES = 1000
    archive = _zip({"a.png": factories.png_bytes(seed=21), "b.png": factories.png_bytes(seed=22)})
    client = client_for(project_with_roles["manager"])
    response = _post(client, project_with_roles["project"].pk, ("big.zip", archive))
    assert response.status_code == 400 and "expands" in response.json()["detail"]
