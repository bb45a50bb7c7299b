"""The Find box in Chromium, with a real Celery worker (this venv's, with the text extra) running
a tiny random SAM 3: "/" focuses it, phrases typed there become a text job on the open image,
the box shows the count per phrase and the page announces the new proposals."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image as PILImage

from annotator import queue, services
from annotator.models import Job, Proposal, Role
from tests import factories
from tests.browser.conftest import PASSWORD, live_server, login  # noqa: F401 - fixtures
from tests.conftest import start_worker, stop_worker, worker_env

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.slow]


@pytest.fixture
def world(
    settings: Any, tmp_path: Path, reference_dir: Path, image: np.ndarray,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, Any]:  # fmt: skip
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    owner = factories.user("owner")
    project = factories.project(
        owner=owner,
        sam_checkpoint=str(reference_dir / "sam_vit_small.pth"),
        labels=[("cup", "#ff0000"), ("dog", "#00ff00")],
    )
    annotator = factories.user("ann")
    annotator.set_password(PASSWORD)
    annotator.save()
    project.memberships.create(user=annotator, role=Role.ANNOTATOR)
    out = io.BytesIO()
    PILImage.fromarray(image).save(out, format="PNG")
    row = factories.image(project, data=out.getvalue(), name="crop.png")
    # Only the text job (and the worker's readiness check) reach the worker: the page's
    # embedding and decoder export would queue minutes of CPU work ahead of it, and the Find
    # box needs neither.
    real = queue.publish
    keep = {queue.JOB_RUN, queue.HEALTHCHECK}
    monkeypatch.setattr(
        queue, "publish", lambda name, args, **o: real(name, args, **o) if name in keep else None
    )
    return {"project": project, "image": row, "annotator": annotator}


@pytest.fixture
def text_worker(world: dict[str, Any], sam3_folder: Path, tmp_path: Path) -> Iterator[None]:
    env = worker_env(SAM3_MODEL=str(sam3_folder))
    # The text venv's worker imports more at start; a shared 2-core machine can take a while.
    proc = start_worker(tmp_path / "worker.log", name="text-find", env=env, timeout=240)
    try:
        # It reports what it can run when it starts (services/text_status.py).
        deadline = time.monotonic() + 60
        while not services.text_status()["available"] and time.monotonic() < deadline:
            time.sleep(0.5)
        assert services.text_status()["engine"] == "sam3", services.text_status()
        yield
    finally:
        stop_worker(proc)


@pytest.mark.django_db(transaction=True)
def test_find_runs_phrases_on_the_open_image_and_announces_the_proposals(
    world: dict[str, Any],
    text_worker: None,
    frontend_dist: Path,
    live_server: Any,  # noqa: F811 - the fixture imported above
    page: Any,
) -> None:
    image = world["image"]
    login(page, live_server.url, "ann")
    page.goto(f"{live_server.url}/images/{image.pk}/annotate/")
    # The annotator holds the edit lock: Find runs for the person editing the image.
    page.wait_for_function("document.getElementById('annotate').dataset.locked === 'false'")
    page.wait_for_function("document.getElementById('find-engine').textContent.includes('sam3')")
    page.evaluate(
        "window.changed = []; "
        "window.addEventListener('proposals:changed', (e) => window.changed.push(e.detail))"
    )

    # Keyboard only: "/" focuses the box, Enter runs it. Nothing typed: refused before a request.
    page.locator("#stage").focus()
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "find-text"
    page.keyboard.press("Enter")
    assert "type what to find" in page.text_content("#find-state")
    page.keyboard.type("cup, red  mug, Cup")
    page.keyboard.press("Enter")
    page.wait_for_function("window.changed.length === 1", timeout=120_000)

    job = Job.objects.get(kind="text")
    assert job.status == "done", job.error
    assert job.params["phrases"] == ["cup", "red mug"] and job.params["image_ids"] == [image.pk]
    detail = page.evaluate("window.changed[0]")
    assert detail == {"imageId": image.pk, "jobId": job.pk, "source": "text"}
    found = job.summary["found"]
    stored = Proposal.objects.filter(image=image, source="text")
    assert sum(found.values()) == stored.count()
    assert found["cup"] == stored.filter(phrase="cup").count()
    # "3 found for 'cup', none for 'red mug'": the count the worker wrote, per phrase.
    words = [f"{n} for '{p}'" if n else f"none for '{p}'" for p, n in found.items()]
    if found["cup"]:
        words[0] = f"{found['cup']} found for 'cup'"
    assert page.text_content("#find-state") == ", ".join(words)
    # The label named like the phrase is suggested.
    cup = world["project"].labels.get(name="cup")
    assert all(p.label_id == cup.pk for p in stored.filter(phrase="cup"))

    # The ? overlay lists the key.
    page.keyboard.press("Escape")
    page.keyboard.press("?")
    assert "Find: type phrases" in page.text_content("#help-table")
