"""Fixtures of the page tests: a project whose image has a real embedding (the pack's small
model, computed in this process) and a real exported decoder, served by `live_server`."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import factories

PASSWORD = "pw-browser"


@pytest.fixture(scope="session")
def onnx_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # One export per session (about a minute on 2 cores, with its verification); the folder is
    # keyed by the checkpoint hash, so SAM_TEST_ONNX_DIR can keep it between runs.
    kept = os.environ.get("SAM_TEST_ONNX_DIR")
    return Path(kept) if kept else tmp_path_factory.mktemp("onnx")


@pytest.fixture(scope="session")
def live_server(request: pytest.FixtureRequest) -> Iterator[Any]:
    """pytest-django's live server, but with static files answered by the app itself.

    Its default StaticFilesHandler answers /static/ before any middleware runs, so the decoder
    worker script would come without COEP and Chromium refuses to start it on a cross-origin
    isolated page. Through WhiteNoise (finders on) the headers are those of production.
    """
    from pytest_django.live_server_helper import LiveServer

    request.getfixturevalue("django_db_setup")
    server = LiveServer("localhost", start=False)
    server.thread.static_handler = lambda app: app
    server.start()
    yield server
    server.stop()


@pytest.fixture
def no_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Work is done in this process below; nothing should wait in the broker for a worker."""
    from annotator import queue

    monkeypatch.setattr(queue, "publish", lambda name, args, **options: None)


@pytest.fixture
def world(
    settings: Any, tmp_path: Path, onnx_dir: Path, reference_dir: Path, no_broker: None
) -> Iterator[dict[str, Any]]:
    """An annotator, a reviewer, a project with labels, chelsea.png with its embedding ready."""
    yield from _world(
        settings, tmp_path, onnx_dir, reference_dir / "sam_vit_small.pth", reference_dir
    )


@pytest.fixture
def sam2_world(
    settings: Any, tmp_path: Path, onnx_dir: Path, reference_dir: Path, no_broker: None
) -> Iterator[dict[str, Any]]:
    """`world` on SAM 2.1: the parity pack's small Hiera (reference/sam2/), its chelsea.png
    embedded in the SAM 2 feature wire format and its decoder exported with family "sam2"."""
    pack = reference_dir / "sam2"
    if not (pack / "sam2.1_hiera_mini.pt").is_file():
        pytest.skip(f"SAM 2.1 reference pack not found at {pack}")
    yield from _world(settings, tmp_path, onnx_dir, pack / "sam2.1_hiera_mini.pt", pack)


def _world(
    settings: Any, tmp_path: Path, onnx_dir: Path, checkpoint: Path, images: Path
) -> Iterator[dict[str, Any]]:
    from annotator import services
    from annotator.models import Embedding, Role

    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.SAM_ONNX_DIR = str(onnx_dir)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    owner = factories.user("owner")
    project = services.project_create(
        name="Cats",
        created_by=owner,
        labels=[("cat", "#f97316"), ("background", "#3b82f6")],
        sam_checkpoint=str(checkpoint),
    )
    people = {}
    for name, role in (("ann", Role.ANNOTATOR), ("rev", Role.REVIEWER), ("man", Role.MANAGER)):
        person = factories.user(name)
        person.set_password(PASSWORD)
        person.save()
        project.memberships.create(user=person, role=role)
        people[name] = person
    data = (images / "chelsea.png").read_bytes()
    image = factories.image(project, data=data, name="chelsea.png")
    services.embedding_request(images=[image])
    row = Embedding.objects.get(image=image)
    services.embedding_compute(embedding_ids=[row.pk])
    row.refresh_from_db()
    assert row.status == "ready", row.error
    project.sam_model.refresh_from_db()
    target = services.onnx_dir(project.sam_model.sha256)
    if not (target / "manifest.json").is_file():
        from export_onnx.export import run_export

        run_export(str(checkpoint), target)
    services.sam_model_export(sam_model=project.sam_model)
    yield {"project": project, "image": image, **people}
    shutil.rmtree(tmp_path / "media", ignore_errors=True)


def login(page: Any, base_url: str, username: str) -> None:
    # Console errors end up in the test's output when it fails.
    page.on("console", lambda m: m.type in ("error", "warning") and print(f"[{username}] {m.text}"))
    page.on("pageerror", lambda e: print(f"[{username}] page error: {e}"))
    page.on("response", lambda r: r.status >= 400 and print(f"[{username}] {r.status} {r.url}"))
    page.goto(f"{base_url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/")


def open_annotate(page: Any, base_url: str, image_id: int) -> None:
    page.goto(f"{base_url}/images/{image_id}/annotate/")
    page.wait_for_function(
        "window.annotator && document.getElementById('annotate').dataset.ready !== undefined",
        timeout=60000,
    )
