"""Media on S3-compatible storage (django-storages), against moto's server on loopback only."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import moto.server as moto_server
import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotator.models import Embedding
from export_onnx import wire
from tests import factories

BUCKET = "annotator-test"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(s3_endpoint: str, settings: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": s3_endpoint,
                "region_name": "us-east-1",
                "access_key": "testing",
                "secret_key": "testing",
                "default_acl": None,
                "file_overwrite": False,
                "querystring_auth": True,
            },
        },
    }
    yield client
    objects = client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    for item in objects:
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


def _keys(client: Any) -> list[str]:
    return [item["Key"] for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


@pytest.mark.django_db
def test_uploads_are_stored_in_the_bucket_and_served_through_the_api(
    s3: Any, project_with_roles: dict, client_for: Any, django_capture_on_commit_callbacks: Any
) -> None:
    client = client_for(project_with_roles["manager"])
    data = factories.png_bytes(20, 10)
    upload = SimpleUploadedFile("a.png", data)
    url = f"/api/projects/{project_with_roles['project'].pk}/images/"
    response = client.post(url, {"files": [upload]}, format="multipart")
    assert response.status_code == 201, response.content
    image = response.json()[0]
    assert any(key.endswith(".png") for key in _keys(s3))
    served = client.get(image["file_url"])
    assert served.status_code == 200 and b"".join(served.streaming_content) == data

    with django_capture_on_commit_callbacks(execute=True):
        assert client.delete(f"/api/images/{image['id']}/").status_code == 204
    assert _keys(s3) == []


@pytest.mark.django_db
def test_embeddings_are_stored_in_the_bucket_and_downloaded(
    s3: Any, project_with_roles: dict, client_for: Any
) -> None:
    from annotator.services.embeddings import _store

    image = factories.image(project_with_roles["project"])
    row = Embedding.objects.get(image=image)
    row.sam_model.sha256 = "ef" * 32
    row.sam_model.save()
    # _store only completes a row that this process holds, as a worker's claim leaves it.
    Embedding.objects.filter(pk=row.pk).update(status=Embedding.Status.RUNNING, worker="w1")
    row.refresh_from_db()
    array = np.random.default_rng(1).normal(size=(1, 256, 64, 64)).astype(np.float32)
    data = wire.encode_embedding(
        array, model_key=bytes(16), original_size=(image.height, image.width)
    )
    assert _store(row, data, dtype="uint8_affine", shape=[256, 64, 64], seconds=0.1, holder="w1")
    assert any(key.endswith(".same") for key in _keys(s3))
    response = client_for(project_with_roles["viewer"]).get(f"/api/images/{image.pk}/embedding")
    assert response.status_code == 200
    assert len(b"".join(response.streaming_content)) == 1_050_688


@pytest.mark.django_db
def test_an_upload_the_bucket_refuses_is_a_503_with_nothing_stored(
    s3: Any, settings: Any, project_with_roles: dict, client_for: Any
) -> None:
    # The bucket named in the settings does not exist: S3 answers NoSuchBucket to the write.
    settings.STORAGES["default"]["OPTIONS"] = {
        **settings.STORAGES["default"]["OPTIONS"],
        "bucket_name": "no-such-bucket",
    }
    project = project_with_roles["project"]
    before = project.images.count()
    upload = SimpleUploadedFile("cat.png", factories.png_bytes(40, 30), "image/png")
    response = client_for(project_with_roles["manager"]).post(
        f"/api/projects/{project.pk}/images/", {"files": [upload]}, format="multipart"
    )
    assert response.status_code == 503, response.content[:300]
    assert response["Retry-After"] == "10"
    assert "object storage refused" in response.json()["detail"]
    assert project.images.count() == before and _keys(s3) == []


# --- Multi-host: the exported decoder lives in the bucket, not in a local folder ---------------


@pytest.mark.django_db
def test_the_decoder_export_is_published_to_the_bucket_served_and_fetched_from_there(
    s3: Any, project_with_roles: dict, client_for: Any, tmp_path: Any, settings: Any
) -> None:
    import hashlib
    import json

    from annotator import services

    sha = "cd" * 32
    model = project_with_roles["project"].sam_model
    model.sha256 = sha
    model.save()
    built = tmp_path / "worker-host" / sha
    built.mkdir(parents=True)
    (built / "decode.onnx").write_bytes(b"graph bytes")
    files = {"decode.onnx": {"sha256": hashlib.sha256(b"graph bytes").hexdigest(), "bytes": 11}}
    (built / "manifest.json").write_text(json.dumps({"model_type": "vit_b", "files": files}))
    assert services.decoder_publish(sha256=sha, folder=built)
    assert not services.decoder_publish(sha256=sha, folder=built)  # written once
    assert sorted(_keys(s3)) == [
        f"shared/onnx/{sha}/files/{files['decode.onnx']['sha256']}",
        f"shared/onnx/{sha}/manifest.json",
    ]

    # Another host: its own SAM_ONNX_DIR, empty; the API answers from the bucket.
    settings.SAM_ONNX_DIR = str(tmp_path / "web-host")
    client = client_for(project_with_roles["viewer"])
    assert client.get(f"/api/models/{sha}/manifest.json").json()["files"] == files
    served = client.get(f"/api/models/{sha}/files/decode.onnx")
    assert served.status_code == 200 and b"".join(served.streaming_content) == b"graph bytes"
    assert "immutable" in served["Cache-Control"]
    assert client.get(f"/api/models/{sha}/files/other.onnx").status_code == 404
    assert not (tmp_path / "web-host").exists()

    # The predict endpoint's copy: downloaded into the local cache, checked, whole.
    local = services.decoder_fetch(sha256=sha)
    assert local == tmp_path / "web-host" / sha
    assert (local / "decode.onnx").read_bytes() == b"graph bytes"
    assert sorted(p.name for p in local.parent.iterdir()) == [sha]


@pytest.mark.django_db
def test_a_corrupt_decoder_file_in_the_bucket_is_never_cached(
    s3: Any, tmp_path: Any, settings: Any
) -> None:
    import json

    from annotator import services, storage

    sha = "ef" * 32
    files = {"decode.onnx": {"sha256": "00" * 32, "bytes": 3}}
    storage.shared_file_write(f"onnx/{sha}/files/{'00' * 32}", b"bad")
    storage.shared_file_write(f"onnx/{sha}/manifest.json", json.dumps({"files": files}).encode())
    settings.SAM_ONNX_DIR = str(tmp_path / "cache")
    with pytest.raises(ValueError, match="corrupt"):
        services.decoder_fetch(sha256=sha)
    assert list((tmp_path / "cache").iterdir()) == []
    # What the predict endpoint gets: a 503 to retry, never a 500.
    with pytest.raises(services.Unavailable, match="corrupt"):
        services.sam_model_decoder(sha256=sha)


def test_of_two_writers_racing_for_a_shared_name_the_bucket_keeps_the_first(
    s3: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storages.backends.s3 import S3Storage

    from annotator import storage

    default = settings.STORAGES["default"]
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {**default, "OPTIONS": {**default["OPTIONS"], "location": "prefix"}},
    }
    # Both writers checked before either wrote: only the store can tell them apart.
    monkeypatch.setattr(S3Storage, "exists", lambda self, name: False)
    assert storage.shared_file_write("onnx/ab/manifest.json", b"first")
    assert not storage.shared_file_write("onnx/ab/manifest.json", b"second")
    assert _keys(s3) == ["prefix/shared/onnx/ab/manifest.json"]
    body = s3.get_object(Bucket=BUCKET, Key="prefix/shared/onnx/ab/manifest.json")["Body"]
    assert body.read() == b"first"
