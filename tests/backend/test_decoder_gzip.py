"""The exported decoder's files go gzipped to clients that accept it: a twin compressed once
after the export is published (a follow-up on the low-priority atlas queue), served with
Content-Encoding; a twin that could not be stored leaves the file served plain, never half of
one."""

from __future__ import annotations

import errno
import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from annotator import services, storage

SHA = "ef" * 32


def _graph_bytes() -> bytes:
    # Like an ONNX file: float weights with structure (compressible), not random noise.
    weights = np.round(np.random.default_rng(0).normal(size=40_000), 2).astype(np.float32)
    return b"onnx-header" + weights.tobytes()


def _publish(folder: Path, data: bytes) -> dict[str, Any]:
    folder.mkdir(parents=True)
    (folder / "decode.onnx").write_bytes(data)
    files = {"decode.onnx": {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}}
    (folder / "manifest.json").write_text(json.dumps({"model_type": "vit_b", "files": files}))
    assert services.decoder_publish(sha256=SHA, folder=folder)
    # Served plain until the low-priority follow-up has compressed it.
    assert services.decoder_gzip(sha256=SHA) == 1
    assert services.decoder_gzip(sha256=SHA) == 0  # once
    return files


@pytest.fixture
def client(project_with_roles: dict, client_for: Any) -> Any:
    model = project_with_roles["project"].sam_model
    model.sha256 = SHA
    model.save()
    return client_for(project_with_roles["viewer"])


@pytest.mark.django_db
def test_a_decoder_file_is_sent_gzipped_from_its_stored_twin_to_clients_that_accept_it(
    client: Any, tmp_path: Path, settings: Any
) -> None:
    settings.SAM_ONNX_DIR = str(tmp_path / "web-host")
    data = _graph_bytes()
    files = _publish(tmp_path / "worker-host" / SHA, data)
    twin = f"onnx/{SHA}/files/{files['decode.onnx']['sha256']}.gz"
    assert storage.shared_file_exists(twin)  # compressed once, at publication

    url = f"/api/models/{SHA}/files/decode.onnx"
    packed = client.get(url, HTTP_ACCEPT_ENCODING="gzip, deflate, br")
    body = b"".join(packed.streaming_content)
    assert packed.status_code == 200 and packed["Content-Encoding"] == "gzip"
    assert gzip.decompress(body) == data and len(body) < 0.95 * len(data)
    assert packed["Content-Length"] == str(len(body))
    assert packed["X-Decoded-Length"] == str(len(data))
    assert "Accept-Encoding" in packed["Vary"] and "immutable" in packed["Cache-Control"]

    for refused in ("identity", "gzip;q=0", ""):
        plain = client.get(url, HTTP_ACCEPT_ENCODING=refused)
        assert not plain.has_header("Content-Encoding"), refused
        assert b"".join(plain.streaming_content) == data
    # The manifest itself is small JSON, sent as is.
    manifest = client.get(f"/api/models/{SHA}/manifest.json", HTTP_ACCEPT_ENCODING="gzip")
    assert not manifest.has_header("Content-Encoding") and manifest.json()["files"] == files
    # The server's own copy (predict endpoint) is the plain file, checked against its hash.
    assert (services.decoder_fetch(sha256=SHA) / "decode.onnx").read_bytes() == data


@pytest.mark.django_db
def test_a_twin_that_could_not_be_stored_leaves_the_file_served_plain(
    client: Any, tmp_path: Path, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.SAM_ONNX_DIR = str(tmp_path / "web-host")
    real = storage.shared_file_write

    def full_for_twins(name: str, data: bytes) -> bool:
        if name.endswith(".gz"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(name, data)

    monkeypatch.setattr(storage, "shared_file_write", full_for_twins)
    data = _graph_bytes()
    folder = tmp_path / "worker-host" / SHA
    folder.mkdir(parents=True)
    (folder / "decode.onnx").write_bytes(data)
    files = {"decode.onnx": {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}}
    (folder / "manifest.json").write_text(json.dumps({"model_type": "vit_b", "files": files}))
    assert services.decoder_publish(sha256=SHA, folder=folder)
    assert services.decoder_gzip(sha256=SHA) == 0
    assert not storage.shared_file_exists(f"onnx/{SHA}/files/{files['decode.onnx']['sha256']}.gz")
    served = client.get(f"/api/models/{SHA}/files/decode.onnx", HTTP_ACCEPT_ENCODING="gzip")
    assert served.status_code == 200 and not served.has_header("Content-Encoding")
    assert b"".join(served.streaming_content) == data
    shared = Path(settings.MEDIA_ROOT) / "shared" / "onnx" / SHA
    assert not [p for p in shared.rglob("*") if p.is_file() and p.suffix not in ("", ".json")]


@pytest.mark.django_db
def test_the_command_writes_the_twins_of_decoders_exported_before_them(
    client: Any, tmp_path: Path, no_broker: list
) -> None:
    from io import StringIO

    from django.core.management import call_command

    data = _graph_bytes()
    folder = tmp_path / "worker-host" / SHA
    folder.mkdir(parents=True)
    (folder / "decode.onnx").write_bytes(data)
    files = {"decode.onnx": {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}}
    (folder / "manifest.json").write_text(json.dumps({"model_type": "vit_b", "files": files}))
    assert services.decoder_publish(sha256=SHA, folder=folder)  # an export without twins

    out = StringIO()
    call_command("embeddings", "--decoder-gzip", stdout=out)
    assert no_broker[-1] == ("atlas_decoder_gzip_task", (SHA,), {"queue": "atlas"})
    call_command("embeddings", "--decoder-gzip", "--sync", stdout=out)
    assert "Wrote 1 decoder gzip twin" in out.getvalue()
    packed = client.get(f"/api/models/{SHA}/files/decode.onnx", HTTP_ACCEPT_ENCODING="gzip")
    assert gzip.decompress(b"".join(packed.streaming_content)) == data
