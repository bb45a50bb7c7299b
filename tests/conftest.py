"""Fixtures shared by every test folder.

The reference parity pack (Meta's outputs on small random weights) lives beside the checkout in
`../shared/reference`, or wherever `SAM_REFERENCE_DIR` points. Locally a missing pack skips the
tests that need it; under CI (`CI=true`) a missing pack is a failure, so CI can never go green by
silently skipping parity.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

# The text-prompt tests need transformers and a torchvision built for the installed torch, which
# the main venv's CPU torch has no wheel for; `make test` runs them in `.venv-text` (the Makefile's
# `test-text`), so a venv without transformers leaves that folder to it.
collect_ignore = [] if importlib.util.find_spec("transformers") else ["text"]


def _reference_dir() -> Path:
    env = os.environ.get("SAM_REFERENCE_DIR")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "reference"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    path = _reference_dir()
    if not (path / "manifest.json").is_file():
        message = f"SAM reference pack not found at {path} (set SAM_REFERENCE_DIR)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def reference_manifest(reference_dir: Path) -> dict[str, Any]:
    return json.loads((reference_dir / "manifest.json").read_text())


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """The cache (files under the session's SAM_VAR_DIR) outlives a test's rolled-back database:
    without this, one test's failed logins would throttle the next test's, and one test's
    cached worker health answer would be the next test's."""
    from django.core.cache import cache

    cache.clear()


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


# --- A real Celery worker ------------------------------------------------------------------------


def worker_env(**overrides: str) -> dict[str, str]:
    """The environment of a worker process on the test database, media and broker folder."""
    from django.conf import settings
    from django.db import connection

    env = dict(os.environ)
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    else:
        env["DATABASE_URL"] = (
            f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or 'localhost'}:"
            f"{db['PORT'] or 5432}/{db['NAME']}"
        )
    env["MEDIA_ROOT"] = str(settings.MEDIA_ROOT)
    # Backend pipeline tests (issue 5): no back-off between embedding retries, and a short
    # verification of the one ONNX export, whichever test happens to start the worker.
    env.setdefault("EMBEDDING_RETRY_DELAY", "0")
    env.setdefault("SAM_ONNX_VERIFY_PROMPTS", "2")
    # The sweep for lost embeddings runs at start only: a periodic one in the long-lived
    # session worker could take rows of tests that kill their own workers (tests/faults/).
    env.setdefault("EMBEDDING_SWEEP_SECONDS", "3600")
    env.update(overrides)
    return env


def start_worker(
    log_path: Path,
    *,
    queues: str = "default,gpu",
    pool: str = "solo",
    name: str | None = None,
    ready_queue: str = "default",
    env: dict[str, str] | None = None,
    timeout: float = 90.0,
) -> subprocess.Popen[bytes]:
    """Start a `celery worker` process and wait until it answers a task on `ready_queue` (give
    a worker a queue of its own there when another worker may be consuming `default`), for at
    most `timeout` seconds."""
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "webapp", "worker",
            "-Q", queues, f"--pool={pool}", "--concurrency=1", "--loglevel=INFO",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
            "--hostname", f"{name or f'test-worker-{os.getpid()}'}@%h",
        ],
        cwd=REPO_ROOT, env=env if env is not None else worker_env(), stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    log.close()  # the child holds its own descriptor
    try:
        _wait_for_worker(proc, log_path, timeout=timeout, queue=ready_queue)
    except BaseException:
        stop_worker(proc)
        raise
    return proc


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def celery_worker(
    django_db_setup: None, django_db_blocker: Any
) -> Iterator[subprocess.Popen[bytes]]:
    """A real `celery worker` process on the test database and the test broker folder.

    Tests that use it must commit their rows (`@pytest.mark.django_db(transaction=True)`), since
    the worker reads them over its own connection.
    """
    from django.conf import settings

    proc = start_worker(Path(settings.VAR_DIR) / "celery-worker.log")
    try:
        yield proc
    finally:
        stop_worker(proc)


def _wait_for_worker(
    proc: subprocess.Popen[bytes], log_path: Path, timeout: float = 90.0, queue: str = "default"
) -> None:
    from annotator.tasks import healthcheck_task

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"celery worker exited:\n{log_path.read_text()[-4000:]}")
        try:
            healthcheck_task.apply_async(queue=queue).get(timeout=5)
            return
        except Exception:  # noqa: BLE001 - not up yet
            continue
    raise RuntimeError(f"celery worker not ready in {timeout} s:\n{log_path.read_text()[-4000:]}")


# --- A real browser ------------------------------------------------------------------------------

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS_DIR = REPO_ROOT / "artifacts"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright (which never downloads a browser here)."""
    if not Path(CHROMIUM).exists():
        message = f"Chromium not found at {CHROMIUM}; `make test` installs Debian's chromium"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        # Playwright's wait_for_function() runs its predicate through eval() in the page, which
        # the app's Content-Security-Policy forbids: tests bypass the policy unless they ask for
        # it (tests/browser/test_csp.py, which opens every page under the real one).
        for name in ("new_context", "new_page"):
            real = getattr(instance, name)

            def bypassing(*args: Any, _real: Any = real, **kwargs: Any) -> Any:
                kwargs.setdefault("bypass_csp", True)
                return _real(*args, **kwargs)

            setattr(instance, name, bypassing)
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(scope="session")
def frontend_dist() -> Path:
    """The built frontend; built here when missing so a lone `pytest` run works too."""
    dist = REPO_ROOT / "frontend" / "dist"
    if not (dist / "ort").is_dir():
        subprocess.run(["npm", "run", "build"], cwd=REPO_ROOT / "frontend", check=True)
    return dist
