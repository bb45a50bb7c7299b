"""An embedding that failed because its checkpoint was not there yet resumes by itself: the
workers' sweep puts it back once the checkpoint can be found (the offline demo, then the file
is put in place), with the real small SAM model computing it afterwards."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from annotator import services
from annotator.models import Embedding
from annotator.sam import checkpoint_sha256
from annotator.services import embeddings
from tests import factories


@pytest.mark.django_db
def test_a_row_failed_for_a_missing_checkpoint_is_resumed_once_the_file_is_there(
    project_with_roles: dict,
    reference_dir: Path,
    tmp_path: Path,
    settings: Any,
    no_broker: list,
) -> None:
    source = reference_dir / "sam_vit_small.pth"
    checkpoint = tmp_path / "models" / "sam_vit_small.pth"
    # The decoder counts as exported (a manifest in the local cache, published from there by
    # the worker): exporting is test_pipeline's subject and takes ~17 s on two cores.
    settings.SAM_ONNX_DIR = str(tmp_path / "onnx")
    cache = tmp_path / "onnx" / checkpoint_sha256(source)
    cache.mkdir(parents=True)
    (cache / "manifest.json").write_text(json.dumps({"note": "export not under test"}))
    project = factories.project(owner=project_with_roles["owner"], sam_checkpoint=str(checkpoint))
    images = [factories.image(project) for _ in range(2)]
    rows = [Embedding.objects.get(image=image) for image in images]
    ids = [row.pk for row in rows]

    outcome = services.embedding_compute(embedding_ids=ids)
    assert sorted(outcome["failed"]) == ids
    for row in rows:
        row.refresh_from_db()
        assert (row.status, row.error_code) == ("failed", embeddings.MODEL_UNAVAILABLE)

    # Still missing: the sweep leaves the rows failed rather than spin on them.
    assert services.embedding_sweep()["resumed"] == []
    assert set(Embedding.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"failed"}

    checkpoint.parent.mkdir()
    shutil.copyfile(source, checkpoint)
    swept = services.embedding_sweep()
    assert sorted(swept["resumed"]) == ids and sorted(swept["enqueued"]) == ids
    assert any(call[:2] == ("embedding_compute_task", (ids,)) for call in no_broker)
    # What the worker consuming that task does:
    outcome = services.embedding_compute(embedding_ids=ids)
    assert sorted(outcome["ready"]) == ids
    for row in rows:
        row.refresh_from_db()
        assert (row.status, row.error, row.error_code, row.attempts) == ("ready", "", "", 1)
        assert row.file.size > 0


@pytest.mark.django_db
def test_an_unloadable_checkpoint_is_not_retried_by_the_sweep(
    project_with_roles: dict, tmp_path: Path, no_broker: list
) -> None:
    checkpoint = tmp_path / "broken.pth"
    checkpoint.write_bytes(b"not a checkpoint")
    project = factories.project(owner=project_with_roles["owner"], sam_checkpoint=str(checkpoint))
    row = Embedding.objects.get(image=factories.image(project))
    assert services.embedding_compute(embedding_ids=[row.pk])["failed"] == [row.pk]
    row.refresh_from_db()
    assert row.status == "failed" and row.error_code == ""
    assert services.embedding_sweep()["resumed"] == []
