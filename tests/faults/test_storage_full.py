"""A full disk or unwritable media storage: the upload fails cleanly (507 for a full disk, 503
for storage that refuses writes, a `detail` either way), with no Image row and no file, whole or
partial, left behind; on the worker side the embedding row ends `failed` with the reason, and a
recompute (POST) succeeds once there is room.

Tests here may run as root, whom `chmod` does not stop, so storage is made to fail in ways that
hold for root too: a tiny tmpfs that really fills up (where this process may mount one), a
MEDIA_ROOT whose parent is a regular file (ENOTDIR), and a storage class that fails a write
with ENOSPC halfway through, as the kernel does, for every machine.
"""

from __future__ import annotations

import errno
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from annotator.models import Embedding, Image
from annotator.storage import AtomicFileSystemStorage
from tests import factories
from tests.faults.conftest import embedding_files, media_files

# Again on PostgreSQL in `make test-integration`: the rows must roll back there too.
pytestmark = [pytest.mark.integration]


class DiskFullHalfway(AtomicFileSystemStorage):
    """Runs out of space in the middle of writing any file under `full_under`: half of the
    bytes are written, then the write fails with ENOSPC."""

    full_under = ""

    def _save(self, name: str, content: Any) -> str:
        if not name.startswith(self.full_under):
            return super()._save(name, content)

        class Half:
            def chunks(self) -> Iterator[bytes]:
                data = content.read()
                yield data[: len(data) // 2]
                raise OSError(errno.ENOSPC, "No space left on device")

        return super()._save(name, Half())


class FullImages(DiskFullHalfway):
    full_under = "projects/"


class FullEmbeddings(DiskFullHalfway):
    full_under = "embeddings/"


def _use_storage(settings: Any, backend: type) -> None:
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": f"{backend.__module__}.{backend.__qualname__}"},
    }


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs: a disk that really fills up."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
        capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); see the ENOSPC tests")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


@pytest.fixture
def manager(db: None, quiet_queue: list) -> dict[str, Any]:
    owner = factories.user()
    client = APIClient()
    client.force_authenticate(owner)
    return {"project": factories.project(owner=owner), "client": client}


def _upload(manager: dict[str, Any], *sizes: tuple[int, int]) -> Any:
    files = [
        factories.upload(factories.png_bytes(w, h, seed=i), f"{i}.png")
        for i, (w, h) in enumerate(sizes)
    ]
    return manager["client"].post(
        f"/api/projects/{manager['project'].pk}/images/", {"files": files}, format="multipart"
    )


def _nothing_stored(manager: dict[str, Any], media: Path) -> None:
    assert not Image.objects.filter(project=manager["project"]).exists()
    assert not Embedding.objects.filter(image__project=manager["project"]).exists()
    assert media_files(media) == []


def test_a_disk_that_fills_up_mid_upload_answers_507_and_keeps_nothing(
    manager: dict[str, Any], tiny_disk: Path, settings: Any
) -> None:
    settings.MEDIA_ROOT = str(tiny_disk)
    # The first image fits (a few KiB), the second (random pixels, ~190 KiB of PNG) cannot.
    response = _upload(manager, (32, 24), (256, 256))
    assert response.status_code == 507, response.content
    assert "storage is full" in response.json()["detail"]
    assert "1.png" in response.json()["detail"]
    _nothing_stored(manager, tiny_disk)


def test_running_out_of_space_halfway_through_a_file_answers_507_and_keeps_nothing(
    manager: dict[str, Any], settings: Any, tmp_path: Path
) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    _use_storage(settings, FullImages)
    response = _upload(manager, (32, 24), (40, 30))
    assert response.status_code == 507, response.content
    assert "No space left on device" in response.json()["detail"]
    _nothing_stored(manager, tmp_path / "media")


def test_storage_that_refuses_writes_answers_503_and_keeps_nothing(
    manager: dict[str, Any], settings: Any, tmp_path: Path
) -> None:
    # A media folder under a regular file (a volume that is not mounted where expected):
    # every write fails with ENOTDIR, for root as for anyone.
    (tmp_path / "not-a-folder").write_text("")
    settings.MEDIA_ROOT = str(tmp_path / "not-a-folder" / "media")
    response = _upload(manager, (32, 24))
    assert response.status_code == 503, response.content
    assert "refused the write" in response.json()["detail"]
    assert not Image.objects.filter(project=manager["project"]).exists()


@pytest.mark.slow
def test_a_full_disk_on_the_worker_fails_the_embedding_with_its_reason_and_a_recompute_works(
    quiet_queue: list,
    small_model: dict[str, str],
    settings: Any,
    tmp_path: Path,
    db: None,
) -> None:
    from annotator.services import embedding_compute

    media = tmp_path / "media"
    settings.MEDIA_ROOT = str(media)
    settings.SAM_ONNX_DIR = small_model["onnx_dir"]
    settings.EMBEDDING_MAX_ATTEMPTS = 2
    owner = factories.user()
    project = factories.project(owner=owner, sam_checkpoint=small_model["checkpoint"])
    image = factories.image(project, data=factories.png_bytes(64, 48, seed=1))
    row = Embedding.objects.get(image=image)

    _use_storage(settings, FullEmbeddings)
    assert embedding_compute(embedding_ids=[row.pk])["retry"] == [row.pk]
    row.refresh_from_db()
    assert row.status == "pending" and "No space left on device" in row.error
    assert embedding_compute(embedding_ids=[row.pk])["failed"] == [row.pk]
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("failed", 2)
    assert row.error.startswith("storage failed:") and "No space left" in row.error
    # Nothing half-written is left where embeddings live, and the row names no file.
    assert media_files(media / "embeddings") == [] and not row.file
    client = APIClient()
    client.force_authenticate(owner)
    failed = client.get(f"/api/images/{image.pk}/embedding")
    assert failed.status_code == 409 and "No space left" in failed.json()["detail"]

    # Room again: the manager's recompute (the retry of a failed row) goes through.
    _use_storage(settings, AtomicFileSystemStorage)
    assert client.post(f"/api/images/{image.pk}/embedding").status_code == 202
    assert quiet_queue[-1] == ("annotator.tasks.embedding_compute_task", [[row.pk]])
    assert embedding_compute(embedding_ids=[row.pk])["ready"] == [row.pk]
    row.refresh_from_db()
    assert (row.status, row.attempts, row.error) == ("ready", 1, "")
    assert media_files(media / "embeddings") == embedding_files(media, [row])


class FullTwins(DiskFullHalfway):
    """Room for the embedding, none for its gzipped twin (written second, so the likeliest
    write to hit a disk filling up)."""

    full_under = "embeddings/"

    def _save(self, name: str, content: Any) -> str:
        if name.endswith(".gz"):
            return super()._save(name, content)
        return AtomicFileSystemStorage._save(self, name, content)


@pytest.mark.slow
def test_a_full_disk_for_the_gzip_twin_stores_the_embedding_plain_and_serves_no_half_twin(
    quiet_queue: list,
    small_model: dict[str, str],
    settings: Any,
    tmp_path: Path,
    db: None,
) -> None:
    import gzip

    from annotator.precompressed import MIN_SAVING
    from annotator.services import embedding_compute

    media = tmp_path / "media"
    settings.MEDIA_ROOT = str(media)
    settings.SAM_ONNX_DIR = small_model["onnx_dir"]
    owner = factories.user()
    project = factories.project(owner=owner, sam_checkpoint=small_model["checkpoint"])
    image = factories.image(project, data=factories.png_bytes(64, 48, seed=1))
    row = Embedding.objects.get(image=image)

    _use_storage(settings, FullTwins)
    assert embedding_compute(embedding_ids=[row.pk])["ready"] == [row.pk]
    row.refresh_from_db()
    data = (media / row.file.name).read_bytes()
    # The twin was due (it saves enough), its write failed halfway: nothing of it is left.
    assert len(gzip.compress(data, mtime=0)) <= (1 - MIN_SAVING) * len(data)
    assert media_files(media / "embeddings") == [media / row.file.name]
    client = APIClient()
    client.force_authenticate(owner)
    response = client.get(f"/api/images/{image.pk}/embedding", HTTP_ACCEPT_ENCODING="gzip")
    assert response.status_code == 200 and not response.has_header("Content-Encoding")
    assert b"".join(response.streaming_content) == data

    # With room again, a recompute writes the twin, and a gzip client gets it.
    _use_storage(settings, AtomicFileSystemStorage)
    assert client.post(f"/api/images/{image.pk}/embedding").status_code == 202
    assert embedding_compute(embedding_ids=[row.pk])["ready"] == [row.pk]
    row.refresh_from_db()
    assert media_files(media / "embeddings") == embedding_files(media, [row])
    assert len(media_files(media / "embeddings")) == 2
    packed = client.get(f"/api/images/{image.pk}/embedding", HTTP_ACCEPT_ENCODING="gzip")
    assert packed["Content-Encoding"] == "gzip"
    assert (
        gzip.decompress(b"".join(packed.streaming_content)) == (media / row.file.name).read_bytes()
    )
