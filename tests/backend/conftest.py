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
        from annotator import queue

        real = queue.publish

        def publish(name: str, args: Any, **options: Any) -> Any:
            if name == queue.HEALTHCHECK:  # a round trip the test means to make
                return real(name, args, **options)
            # (task, args), or (task, args, options) when sent with options (a queue, a delay).
            short = name.rsplit(".", 1)[-1]
            sent.append((short, tuple(args), options) if options else (short, tuple(args)))

        monkeypatch.setattr(queue, "publish", publish)
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
