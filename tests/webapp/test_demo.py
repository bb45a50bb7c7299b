"""`manage.py demo`, which `make demo` runs: demo data, a worker, a server a browser can use."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _demo_env(tmp_path: Path, checkpoint: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(SAM_VAR_DIR=str(tmp_path / "var"), SAM_CHECKPOINT=checkpoint, **extra)
    for key in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "MEDIA_ROOT", "SAM_CACHE_DIR"):
        env.pop(key, None)
    return env


def _manage(env: dict[str, str], *args: str, timeout: float = 300) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def _wait_for_http(url: str, proc: subprocess.Popen[Any], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the demo exited early"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer in {timeout} s")


def _wait_for_an_embedding(api: Any, base: str, timeout: float = 180) -> None:
    projects = api.get(f"{base}/api/projects/").json()
    project = next(p for p in _items(projects) if p["name"] == "Demo: everyday objects")
    images = _items(api.get(f"{base}/api/projects/{project['id']}/images/").json())
    assert len(images) == 4
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = api.get(f"{base}/api/images/{images[0]['id']}/embedding")
        if response.status == 200:
            assert len(response.body()) > 1_000_000
            return
        assert response.status == 202, response.text()
        time.sleep(1)
    raise AssertionError("the demo worker computed no embedding")


def _items(body: Any) -> list[dict[str, Any]]:
    return body["results"] if isinstance(body, dict) else body


def test_demo_offline_says_which_checkpoint_file_to_put_where(tmp_path: Path) -> None:
    env = _demo_env(tmp_path, "mobile_sam", SAM_ALLOW_DOWNLOAD="false")
    _manage(env, "migrate", "--noinput")
    output = _manage(env, "demo", "--setup-only")
    expected = tmp_path / "var" / "checkpoints" / "mobile_sam.pt"
    assert str(expected) in output
    assert "https://github.com/ChaoningZhang/MobileSAM/raw/master/weights/mobile_sam.pt" in output
    # A second run reuses what the first made.
    _manage(env, "demo", "--setup-only")


@pytest.mark.browser
@pytest.mark.slow
def test_demo_serves_its_project_to_a_browser_and_computes_embeddings(
    tmp_path: Path, browser: Any, reference_dir: Path, frontend_dist: Path
) -> None:
    env = _demo_env(tmp_path, str(reference_dir / "sam_vit_small.pth"))
    _manage(env, "migrate", "--noinput")
    port = _free_port()
    log = (tmp_path / "demo.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "demo", "--port", str(port)],
        cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for_http(f"{base}/healthz?worker=1", proc)
        context = browser.new_context()
        page = context.new_page()
        page.goto(f"{base}/accounts/login/")
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", "admin")
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")
        assert "Demo: everyday objects" in page.content()
        _wait_for_an_embedding(context.request, base)
        context.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()
    output = (tmp_path / "demo.log").read_text()
    assert f"http://127.0.0.1:{port}/" in output
    assert "admin / admin" in output
