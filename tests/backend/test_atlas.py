"""Hover atlases end to end on the server: computed after the embedding (the real small model),
stored beside it, dropped with it, served only when valid and for the right model, and the
embedding sent gzipped (stored once) to clients that accept it."""

from __future__ import annotations

import gzip
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from rest_framework.test import APIClient

from annotator import precompressed
from annotator.models import Embedding, SamModel
from annotator.services import atlas_compute, embedding_compute
from annotator.services.atlases import atlas_store
from export_onnx import atlas_format, wire
from tests import factories
from tests.export_onnx.test_atlas_format import fixture_atlas

SHA = "ab" * 32


@pytest.fixture
def ready(project_with_roles: dict, client_for: Any) -> dict[str, Any]:
    """A ready embedding (wire bytes, and their gzipped twin) of model SHA, no atlas yet."""
    image = factories.image(project_with_roles["project"])
    row = Embedding.objects.get(image=image)
    model = row.sam_model
    model.sha256 = SHA
    model.save()
    data = wire.encode_embedding(
        np.random.default_rng(0).integers(0, 3, size=(1, 256, 64, 64)).astype(np.float32),
        model_key=wire.model_key_from_sha256(SHA),
        original_size=(image.height, image.width),
    )
    row.file.save("x.same", ContentFile(data), save=False)
    precompressed.save_gzip(storage=row.file.storage, name=row.file.name, data=data)
    row.status, row.dtype, row.shape, row.sha256 = "ready", "uint8_affine", [256, 64, 64], "cd" * 32
    row.save()
    client = client_for(project_with_roles["viewer"])
    return {"image": image, "row": row, "data": data, "client": client, **project_with_roles}


def _store_fixture(row: Embedding, *, data: bytes | None = None) -> bytes:
    data = data or atlas_format.encode_atlas(
        fixture_atlas(), model_key=wire.model_key_from_sha256(SHA)
    )
    row.atlas.save("x.sama", ContentFile(data), save=False)
    Embedding.objects.filter(pk=row.pk).update(atlas=row.atlas.name, atlas_sha256="ef" * 32)
    return data


def _url(ready: dict) -> str:
    return f"/api/images/{ready['image'].pk}/atlas"


@pytest.mark.django_db
def test_an_image_without_an_atlas_answers_404_with_a_detail(ready: dict) -> None:
    response = ready["client"].get(_url(ready))
    assert response.status_code == 404
    assert "No hover atlas" in response.json()["detail"]


@pytest.mark.django_db
def test_a_viewer_gets_the_stored_atlas_with_its_model(ready: dict) -> None:
    data = _store_fixture(ready["row"])
    response = ready["client"].get(_url(ready))
    assert response.status_code == 200
    assert response.content == data
    assert response["Content-Type"] == "application/octet-stream"
    assert response["X-Model-Sha256"] == SHA
    assert response["ETag"] == f'"{"ef" * 32}"'
    again = ready["client"].get(_url(ready), HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304


@pytest.mark.django_db
def test_a_corrupt_atlas_is_refused_with_a_clear_error_never_served(ready: dict) -> None:
    good = atlas_format.encode_atlas(fixture_atlas(), model_key=wire.model_key_from_sha256(SHA))
    flipped = bytearray(good)
    flipped[-3] ^= 0xFF  # inside the zlib stream: only its Adler-32 can tell
    _store_fixture(ready["row"], data=bytes(flipped))
    response = ready["client"].get(_url(ready))
    assert response.status_code == 409
    assert "unusable" in response.json()["detail"]
    _store_fixture(ready["row"], data=good[:-10])  # truncated: the header says so
    assert ready["client"].get(_url(ready)).status_code == 409


@pytest.mark.django_db
def test_an_atlas_of_another_model_is_refused(ready: dict) -> None:
    foreign = atlas_format.encode_atlas(fixture_atlas(), model_key=bytes(16))
    _store_fixture(ready["row"], data=foreign)
    response = ready["client"].get(_url(ready))
    assert response.status_code == 409
    assert "another model" in response.json()["detail"]


@pytest.mark.django_db
def test_an_outsider_cannot_read_the_atlas(ready: dict, client_for: Any) -> None:
    _store_fixture(ready["row"])
    response = client_for(ready["outsider"]).get(_url(ready))
    assert response.status_code == 404 and "Not found" in response.json()["detail"]


@pytest.mark.django_db
def test_an_atlas_of_a_replaced_embedding_is_not_stored(ready: dict) -> None:
    row = ready["row"]
    stored = atlas_store(row=row, atlas=fixture_atlas(), seconds=1.0, embedding_sha256="00" * 32)
    assert stored is False
    row.refresh_from_db()
    assert not row.atlas
    assert atlas_store(row=row, atlas=fixture_atlas(), seconds=1.0, embedding_sha256=row.sha256)
    row.refresh_from_db()
    assert row.atlas and row.atlas_seconds == 1.0


@pytest.mark.django_db
def test_the_embedding_goes_gzipped_to_clients_that_accept_it(ready: dict) -> None:
    url = f"/api/images/{ready['image'].pk}/embedding"
    packed = ready["client"].get(url, HTTP_ACCEPT_ENCODING="gzip, deflate, br")
    body = b"".join(packed.streaming_content)
    assert packed["Content-Encoding"] == "gzip" and "Accept-Encoding" in packed["Vary"]
    assert gzip.decompress(body) == ready["data"]
    assert len(body) < len(ready["data"]) and packed["X-Decoded-Length"] == str(len(ready["data"]))
    plain = ready["client"].get(url, HTTP_ACCEPT_ENCODING="gzip;q=0, identity")
    assert not plain.has_header("Content-Encoding")
    assert b"".join(plain.streaming_content) == ready["data"]
    assert packed["ETag"] != plain["ETag"]


@pytest.mark.django_db
@pytest.mark.slow
def test_a_cpu_embedding_enqueues_its_atlas_and_the_task_stores_a_valid_one(
    reference_dir: Path, monkeypatch: pytest.MonkeyPatch, no_broker: list, settings: Any
) -> None:
    # The decoder export (a minute of verification on 2 cores) is the worker tests' part; a
    # 4-cell grid (12 decodes) instead of 32 (768, minutes on this CPU) exercises the same code.
    monkeypatch.setattr("annotator.services.sam_models.sam_model_export", lambda **kw: None)
    settings.SAM_ATLAS_GRID_CPU = 4
    project = factories.project(sam_checkpoint=str(reference_dir / "sam_vit_small.pth"))
    image = factories.image(project, data=factories.png_bytes(40, 30))
    row = Embedding.objects.get(image=image)
    assert embedding_compute(embedding_ids=[row.pk])["ready"] == [row.pk]
    # Ready first (the page starts on the embedding), the atlas a follow-up task.
    assert no_broker[-1] == ("atlas_compute_task", ([row.pk],), {"queue": "atlas"})
    row.refresh_from_db()
    assert not row.atlas
    assert row.file.storage.exists(precompressed.gzip_name(row.file.name))

    assert atlas_compute(embedding_ids=[row.pk])["ready"] == [row.pk]
    row.refresh_from_db()
    with row.atlas.open("rb") as f:
        data = f.read()
    key = wire.model_key_from_sha256(SamModel.objects.get(pk=row.sam_model_id).sha256)
    atlas = atlas_format.decode_atlas(data, model_key=key)
    assert atlas.original_size == (30, 40) and atlas.index.shape == (3, 4)
    assert row.atlas_seconds and row.atlas_seconds > 0
    assert atlas_compute(embedding_ids=[row.pk])["skipped"] == [row.pk]  # done already

    # The management command recomputes them all with --force-atlas.
    out = StringIO()
    call_command("embeddings", "--atlas", "--force-atlas", "--sync", stdout=out)
    assert "Computed 1 hover atlas" in out.getvalue()


@pytest.mark.django_db
def test_the_command_enqueues_missing_atlases(ready: dict, no_broker: list) -> None:
    out = StringIO()
    call_command("embeddings", "--atlas", stdout=out)
    assert "Enqueued 1 hover atlas" in out.getvalue()
    assert no_broker[-1] == ("atlas_compute_task", ([ready["row"].pk],), {"queue": "atlas"})


def test_atlas_tasks_go_to_their_own_queue_not_the_embedding_or_job_workers() -> None:
    from webapp.celery import app

    route = app.amqp.router.route({}, "annotator.tasks.atlas_compute_task")
    assert route["queue"].name == "atlas"
    assert app.amqp.router.route({}, "annotator.tasks.job_run_task")["queue"].name == "default"


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_an_atlas_worker_computes_the_atlas_and_again_when_the_embedding_is_recomputed(
    reference_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    no_broker: list,
    settings: Any,
    tmp_path: Path,
) -> None:
    import os
    import time

    from annotator import services, tasks
    from tests.conftest import start_worker, stop_worker, worker_env

    # A queue of its own, so this worker takes no other test's atlases (and no embedding).
    settings.SAM_ATLAS_QUEUE = queue = f"atlas-test-{os.getpid()}"
    monkeypatch.setattr("annotator.services.sam_models.sam_model_export", lambda **kw: None)
    owner = factories.user()
    project = factories.project(
        owner=owner, sam_checkpoint=str(reference_dir / "sam_vit_small.pth")
    )
    image = factories.image(project, data=factories.png_bytes(40, 30))
    row = Embedding.objects.get(image=image)
    assert embedding_compute(embedding_ids=[row.pk])["ready"] == [row.pk]
    assert no_broker[-1] == ("atlas_compute_task", ([row.pk],), {"queue": queue})

    def run_atlas_task_and_wait() -> Embedding:
        tasks.atlas_compute_task.apply_async(args=[[row.pk]], queue=queue)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            fresh = Embedding.objects.get(pk=row.pk)
            if fresh.atlas or fresh.atlas_error:
                return fresh
            time.sleep(0.2)
        raise AssertionError(f"no atlas in 240 s:\n{log.read_text()[-3000:]}")

    log = tmp_path / "atlas-worker.log"
    env = worker_env(SAM_ATLAS_QUEUE=queue, SAM_ATLAS_GRID_CPU="4", SAM_ATLAS_THREADS="1")
    worker = start_worker(log, queues=queue, ready_queue=queue, name="atlas-test", env=env)
    try:
        first = run_atlas_task_and_wait()
        assert first.atlas_error == "" and first.atlas_seconds
        key = wire.model_key_from_sha256(SamModel.objects.get(pk=row.sam_model_id).sha256)
        with first.atlas.open("rb") as f:
            data = f.read()
        atlas = atlas_format.decode_atlas(data, model_key=key)
        assert atlas.original_size == (30, 40) and atlas.index.shape == (3, 4)

        # The page gets exactly those bytes.
        client = APIClient()
        client.force_authenticate(owner)
        response = client.get(f"/api/images/{image.pk}/atlas")
        assert response.status_code == 200 and response.content == data

        # A recomputed embedding drops its atlas at once, and enqueues the next one.
        services.embedding_request(images=[image], force=True)
        assert embedding_compute(embedding_ids=[row.pk])["ready"] == [row.pk]
        assert not Embedding.objects.get(pk=row.pk).atlas
        assert client.get(f"/api/images/{image.pk}/atlas").status_code == 404
        assert no_broker[-1] == ("atlas_compute_task", ([row.pk],), {"queue": queue})
        second = run_atlas_task_and_wait()
        assert second.atlas_error == "" and second.atlas_sha256 == first.atlas_sha256
        # One atlas file beside the embedding (and its twin): the dropped one was deleted.
        folder = Path(settings.MEDIA_ROOT) / Path(second.file.name).parent
        assert sorted(p.suffix for p in folder.iterdir()) == [".gz", ".sama", ".same"]
    finally:
        stop_worker(worker)
