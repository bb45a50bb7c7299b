"""The pipes: Django answers, static bundles are served cross-origin isolated, Celery round-trips
through the embedded broker in a real worker process, and Chromium opens a page."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

ISOLATION_HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
}


@pytest.mark.django_db
def test_healthz_answers_ok_with_the_database_up(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_pages_are_served_cross_origin_isolated(client: Client) -> None:
    response = client.get("/status/")
    assert response.status_code == 200
    for header, value in ISOLATION_HEADERS.items():
        assert response.headers[header] == value


@pytest.mark.django_db
def test_frontend_bundles_and_wasm_are_served_with_isolation_headers(
    client: Client, frontend_dist: Any
) -> None:
    bundle = client.get("/static/app/pages/health.js")
    assert bundle.status_code == 200
    assert "javascript" in bundle.headers["Content-Type"]
    wasm = client.get("/static/app/ort/ort-wasm-simd-threaded.wasm")
    assert wasm.status_code == 200
    assert wasm.headers["Content-Type"] == "application/wasm"
    for response in (bundle, wasm):
        for header, value in ISOLATION_HEADERS.items():
            assert response.headers[header] == value


@pytest.mark.worker
@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_task_round_trips_through_the_embedded_broker_in_a_worker_process(
    celery_worker: Any, client: Client
) -> None:
    import os

    from annotator.tasks import healthcheck_task

    answer = healthcheck_task.apply_async(queue="default").get(timeout=30)
    assert answer["pid"] == celery_worker.pid
    assert answer["pid"] != os.getpid()

    response = client.get("/healthz?worker=1")
    assert response.status_code == 200
    assert response.json()["worker"]["status"] == "ok"


@pytest.mark.django_db
def test_healthz_reports_503_with_retry_after_when_no_worker_answers(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from annotator import health

    # No worker is consuming the queue in this test, so the round trip must time out.
    monkeypatch.setattr(health, "WORKER_TIMEOUT_SECONDS", 0.5)
    response = client.get("/healthz?worker=1")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "10"
    assert response.json()["worker"]["status"] == "timeout"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_chromium_opens_the_status_page_cross_origin_isolated(
    live_server: Any, page: Any, frontend_dist: Any
) -> None:
    page.goto(f"{live_server.url}/status/")
    status = page.locator("#status")
    status.wait_for(state="attached")
    page.wait_for_function("document.getElementById('status').dataset.api !== undefined")
    assert status.get_attribute("data-isolated") == "true"
    assert status.get_attribute("data-api") == "ok"
