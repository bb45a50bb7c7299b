"""Backend fixtures: media in a temp dir, an API client per role."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests import factories


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    # PBKDF2's deliberate slowness costs ~0.3 s per test user; the tests do not need it.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return tmp_path / "media"


@pytest.fixture(autouse=True)
def no_broker(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[list]:
    """Unit tests record what would be enqueued instead of writing to the broker; tests that
    start the real worker (marked `worker`) enqueue for real."""
    sent: list[tuple[str, tuple]] = []
    if request.node.get_closest_marker("worker") is None:
        from annotator import tasks

        for name in ("embedding_compute_task", "job_run_task", "embedding_model_export_task"):
            task = getattr(tasks, name)
            monkeypatch.setattr(
                task, "delay", lambda *args, _n=name: sent.append((_n, args)), raising=False
            )
            monkeypatch.setattr(
                task,
                "apply_async",
                lambda args=(), _n=name, **kw: sent.append((_n, tuple(args), kw)),
                raising=False,
            )
    yield sent


@pytest.fixture
def client_for() -> Any:
    def make(user: Any) -> APIClient:
        client = APIClient()
        client.force_authenticate(user)
        return client

    return make


@pytest.fixture
def project_with_roles(db: None) -> dict[str, Any]:
    """A project with one user per role, and an outsider who belongs to another project."""
    owner = factories.user("owner")
    project = factories.project(owner=owner)
    people = {"owner": owner}
    for role in ("manager", "annotator", "reviewer", "viewer"):
        people[role] = factories.member(project, role, username=role)
    people["outsider"] = factories.user("outsider")
    factories.project(owner=people["outsider"])
    return {"project": project, **people}
