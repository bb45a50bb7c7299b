"""bench/load.py's measured part, short: simulated annotators against pytest-django's live server
(a thread per request) and the session's real Celery worker, which recomputes embeddings the
whole time. Every request must be answered as expected, nothing written may be lost, and the
worker's memory must not grow over the run."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from rest_framework.authtoken.models import Token

from annotator.models import Annotation, Embedding
from bench.load import Target, format_report, run_load, synthetic_png
from tests import factories

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

USERS = 4
SECONDS = 10
WORKER_SECONDS = 15
# The worker's RSS swings by one image's activations (~200 MB with sam_vit_small) between
# tasks; what must not happen is its floor creeping up. Generous for a run this short.
MAX_FLOOR_GROWTH_MB = 150


@pytest.fixture
def target(celery_worker: Any, live_server: Any, reference_dir: Path, settings: Any) -> Target:
    # The worker writes media under its MEDIA_ROOT (the session's); the server reads them there.
    settings.MEDIA_ROOT = os.environ.get("MEDIA_ROOT", str(Path(settings.VAR_DIR) / "media"))
    checkpoint = str(reference_dir / "sam_vit_small.pth")
    manager = factories.user("load-manager")
    labels = [("thing", "#ff0000")]
    project = factories.project(owner=manager, labels=labels, sam_checkpoint=checkpoint)
    churn = factories.project(owner=manager, labels=labels, sam_checkpoint=checkpoint)
    annotators = [factories.member(project, "annotator") for _ in range(USERS)]
    # Fewer images than annotators: they compete for locks, as a busy team does.
    for i in range(USERS - 1):
        factories.image(project, data=synthetic_png(i, 320, 240), name=f"load-{i}.png")
    churn_images = [
        factories.image(churn, data=synthetic_png(100 + i, 320, 240), name=f"churn-{i}.png")
        for i in range(2)
    ]
    deadline = time.monotonic() + 120
    while Embedding.objects.exclude(status=Embedding.Status.READY).exists():
        failed = Embedding.objects.filter(status=Embedding.Status.FAILED).first()
        assert failed is None, failed.error if failed else ""
        assert time.monotonic() < deadline, "embeddings not ready in 2 minutes"
        time.sleep(0.3)
    return Target(
        base_url=live_server.url,
        annotator_tokens=[Token.objects.create(user=u).key for u in annotators],
        manager_token=Token.objects.create(user=manager).key,
        project_id=project.pk,
        label_id=project.labels.get().pk,
        churn_image_ids=[image.pk for image in churn_images],
        pids={"celery worker": celery_worker.pid},
    )


def test_annotators_and_a_busy_worker_get_every_answer_right_and_lose_nothing(
    target: Target,
) -> None:
    report = run_load(target, users=USERS, seconds=SECONDS, worker_seconds=WORKER_SECONDS)
    rec = report.rec
    print(format_report(report, "tests/load/test_load.py", "live server, session worker"))

    assert rec.errors == [], rec.errors[:5]
    assert rec.unanswered == 0
    # Every step of the loop ran, each annotator got through images, the worker kept working.
    for endpoint in ("next-image", "embedding", "lock", "annotation create", "unlock"):
        assert rec.statuses[(endpoint, 200 if endpoint != "annotation create" else 201)] > 0
    assert report.images_done >= USERS
    assert len(report.recompute_seconds) >= 2

    # Nothing lost: every annotation created is stored, and holds the one update it was given.
    created = rec.statuses[("annotation create", 201)]
    assert rec.statuses[("annotation update", 200)] == created
    stored = Annotation.objects.filter(image__project_id=target.project_id)
    assert stored.count() == created
    assert set(stored.values_list("version", flat=True)) == {2}

    worker = report.rss["celery worker"]
    assert worker["samples"] >= WORKER_SECONDS - 2
    assert worker["floor_late"] - worker["floor_early"] < MAX_FLOOR_GROWTH_MB, worker
