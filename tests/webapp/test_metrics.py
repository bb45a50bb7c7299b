"""/metrics: Prometheus's text format, for operators only, with numbers that follow the work.

The worker-side figures come from the rows a real Celery worker leaves and from the broker's
queues, so the test drives a real worker (embeddings computed, one failed for good, an export
job) and reads the exposition back with prometheus-client's own parser.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from annotator.models import Embedding
from tests import factories

TOKEN = "m" * 40
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: Client, **headers: str) -> Samples:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def staff(db: None, client: Client) -> Client:
    client.force_login(factories.user(is_staff=True))
    return client


@pytest.mark.django_db
def test_metrics_are_refused_to_anonymous_callers_and_members(client: Client) -> None:
    assert client.get("/metrics").status_code == 403
    client.force_login(factories.user())  # a logged-in user who is not staff
    response = client.get("/metrics")
    assert response.status_code == 403 and response.json()["detail"]


@pytest.mark.django_db
def test_the_bearer_token_opens_metrics_only_when_it_is_set_and_matches(
    client: Client, settings: Any
) -> None:
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 403
    settings.METRICS_TOKEN = TOKEN
    wrong = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN[:-1]}x"})
    assert wrong.status_code == 403
    assert client.get("/metrics", headers={"Authorization": f"Token {TOKEN}"}).status_code == 403
    assert scrape(client, Authorization=f"Bearer {TOKEN}")


def test_a_short_metrics_token_stops_the_settings_at_start() -> None:
    import os
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT

    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=REPO_ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "webapp.settings", "METRICS_TOKEN": "short"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "METRICS_TOKEN must be at least 32" in result.stderr


def test_staff_read_every_metric_in_the_exposition_format(staff: Client) -> None:
    samples = scrape(staff)
    names = {name for name, _ in samples}
    for expected in (
        "sam_broker_up",
        "sam_queue_depth",
        "sam_embeddings",
        "sam_embedding_failed_attempts",
        "sam_embedding_compute_seconds_count",
        "sam_jobs",
        "sam_http_request_duration_seconds_count",
    ):
        assert expected in names, expected
    assert value(samples, "sam_broker_up") == 1
    assert {dict(labels)["status"] for name, labels in samples if name == "sam_embeddings"} == set(
        Embedding.Status.values
    )


def test_request_latency_is_labelled_by_route_not_by_path(staff: Client) -> None:
    for pk in (987654, 987655, 987656):
        staff.get(f"/api/images/{pk}/")
    staff.get("/no/such/page")
    samples = scrape(staff)
    routes = {dict(labels)["route"] for name, labels in samples if name.startswith("sam_http")}
    assert "api/images/<int:pk>/" in routes and "<unresolved>" in routes
    assert not any("987654" in route for route in routes)
    count = value(
        samples,
        "sam_http_request_duration_seconds_count",
        route="api/images/<int:pk>/",
        method="GET",
        status="404",
    )
    assert count >= 3


def test_queue_depth_counts_what_waits_in_a_queue(staff: Client, settings: Any) -> None:
    from annotator.tasks import healthcheck_task
    from webapp.celery import app

    # A queue of its own that no worker consumes, standing in for the embedding queue.
    queue = f"metrics-test-{time.monotonic_ns()}"
    settings.SAM_EMBEDDING_QUEUE = queue
    try:
        assert value(scrape(staff), "sam_queue_depth", queue=queue) == 0
        for _ in range(3):
            healthcheck_task.apply_async(queue=queue)
        assert value(scrape(staff), "sam_queue_depth", queue=queue) == 3
    finally:
        with app.connection_for_write() as conn:
            conn.default_channel.queue_purge(queue)


def test_a_down_broker_reports_broker_down_within_the_timeout(
    staff: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from webapp.celery import app

    # Nothing listens on port 1: the connection is refused, as with a stopped Redis.
    monkeypatch.setattr(app.conf, "broker_url", "redis://127.0.0.1:1/0")
    start = time.monotonic()
    samples = scrape(staff)
    assert time.monotonic() - start < 10
    assert value(samples, "sam_broker_up") == 0
    assert not any(name == "sam_queue_depth" for name, _ in samples)
    assert value(samples, "sam_embeddings", status="ready") == 0  # the rest is still there


def _wait(client: APIClient, url: str, done: Any, timeout: float = 180) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(url)
        if done(response) or time.monotonic() > deadline:
            return response
        time.sleep(0.5)


@pytest.mark.worker
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_embedding_and_job_metrics_move_with_a_real_workers_work(
    celery_worker: Any, reference_dir: Path, settings: Any, client: Client
) -> None:
    settings.METRICS_TOKEN = TOKEN
    auth = {"Authorization": f"Bearer {TOKEN}"}
    before = scrape(client, **auth)
    owner = factories.user()
    project = factories.project(owner=owner, sam_checkpoint=str(reference_dir / "sam_vit_small.pth"))  # fmt: skip
    api = APIClient()
    api.force_authenticate(owner)

    images = [factories.image(project, data=factories.png_bytes(seed=s), name=f"{s}.png") for s in (1, 2)]  # fmt: skip
    for image in images:
        url = f"/api/images/{image.pk}/embedding"
        assert _wait(api, url, lambda r: r.status_code != 202).status_code == 200
    after = scrape(client, **auth)
    assert value(after, "sam_embeddings", status="ready") == 2
    name = "sam_embedding_compute_seconds_count"
    assert value(after, name) - value(before, name) == 2
    assert value(after, "sam_embedding_compute_seconds_sum") > value(before, "sam_embedding_compute_seconds_sum")  # fmt: skip
    assert value(after, "sam_queue_depth", queue=settings.SAM_EMBEDDING_QUEUE) == 0

    # One embedding fails for good: its image is gone, and it is asked for again.
    broken = images[1]
    broken.file.storage.delete(broken.file.name)
    assert api.post(f"/api/images/{broken.pk}/embedding").status_code == 202
    url = f"/api/images/{broken.pk}/embedding"
    assert _wait(api, url, lambda r: r.status_code != 202, timeout=120).status_code == 409
    failed = scrape(client, **auth)
    assert value(failed, "sam_embeddings", status="failed") == 1
    assert value(failed, "sam_embeddings", status="ready") == 1
    attempts = value(failed, "sam_embedding_failed_attempts") - value(before, "sam_embedding_failed_attempts")  # fmt: skip
    assert attempts == settings.EMBEDDING_MAX_ATTEMPTS

    response = api.post(f"/api/projects/{project.pk}/exports/", {"format": "coco"}, format="json")
    assert response.status_code == 202, response.content
    job_url = f"/api/jobs/{response.json()['id']}/"
    finished = _wait(api, job_url, lambda r: r.json()["status"] in {"done", "failed"})
    assert finished.json()["status"] == "done", finished.json()
    jobs = scrape(client, **auth)
    labels = {"kind": "export", "status": "done"}
    assert value(jobs, "sam_jobs", **labels) == 1
    assert value(jobs, "sam_job_duration_seconds_count", **labels) == 1
    assert value(jobs, "sam_job_duration_seconds_bucket", le="+Inf", **labels) == 1
    assert 0 < value(jobs, "sam_job_duration_seconds_sum", **labels) < 180
