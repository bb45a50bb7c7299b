"""The `embeddings` management command."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from annotator.models import Embedding
from tests import factories


@pytest.mark.django_db
def test_the_command_enqueues_pending_embeddings(no_broker: list) -> None:
    image = factories.image(factories.project())
    out = StringIO()
    call_command("embeddings", stdout=out)
    assert "Enqueued 1" in out.getvalue()
    assert no_broker[-1] == ("embedding_compute_task", ([Embedding.objects.get(image=image).pk],))


@pytest.mark.django_db
@pytest.mark.slow
def test_the_command_computes_in_process_with_sync(
    reference_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The decoder export (a minute of verification on 2 cores) is the worker tests' part.
    monkeypatch.setattr("annotator.services.sam_models.sam_model_export", lambda **kw: None)
    project = factories.project(sam_checkpoint=str(reference_dir / "sam_vit_small.pth"))
    image = factories.image(project, data=factories.png_bytes(40, 30))
    Embedding.objects.filter(image=image).update(status="failed", error="x")
    call_command("embeddings", "--sync", "--retry-failed", stdout=StringIO())
    row = Embedding.objects.get(image=image)
    assert row.status == "ready", row.error
    assert row.shape == [256, 64, 64] and row.file.size == 1_050_688
