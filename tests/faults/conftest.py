"""Fault-injection fixtures: worker processes of the tests' own, a web server process configured
by environment variables (so a broker can be pointed somewhere dead, as in production), and a
way to create rows without enqueueing them on the shared test broker."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT, stop_worker, worker_env


@pytest.fixture
def quiet_queue(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[Any]]]:
    """Rows are created as the application creates them, but their tasks are recorded here
    instead of being published on the session's broker, where the shared `celery_worker`
    (if a test started it) would compute them behind the test's back."""
    from annotator import queue

    sent: list[tuple[str, list[Any]]] = []

    def send(name: str, args: Any, **options: Any) -> bool:
        sent.append((name, list(args)))
        return True

    monkeypatch.setattr(queue, "send", send)
    return sent


@pytest.fixture
def small_model(reference_dir: Path, tmp_path: Path) -> dict[str, str]:
    """The reference pack's small SAM checkpoint, and an ONNX folder in which its decoder
    counts as exported. Exporting it takes ~17 s on two cores and is what test_pipeline
    checks; these tests are about the embedding rows, so their workers skip straight to the
    encoder (sam_model_export returns when the manifest is on disk)."""
    from annotator.sam import checkpoint_sha256

    checkpoint = reference_dir / "sam_vit_small.pth"
    onnx_dir = tmp_path / "onnx"
    (onnx_dir / checkpoint_sha256(checkpoint)).mkdir(parents=True)
    manifest = {"note": "decoder export not needed by the fault tests"}
    (onnx_dir / checkpoint_sha256(checkpoint) / "manifest.json").write_text(json.dumps(manifest))
    return {"checkpoint": str(checkpoint), "onnx_dir": str(onnx_dir)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Web:
    """A `manage.py runserver` process; requests carry a DRF token."""

    proc: subprocess.Popen[bytes]
    url: str
    log: Path
    token: str = ""
    timings: list[float] = field(default_factory=list)

    def request(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> tuple[int, dict[str, str], Any, float]:
        """(status, headers, JSON body or None, seconds)."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"}
        if token or self.token:
            headers["Authorization"] = f"Token {token or self.token}"
        request = urllib.request.Request(self.url + path, data, headers, method=method)
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, answer, raw = response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            status, answer, raw = error.code, dict(error.headers), error.read()
        seconds = time.monotonic() - started
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        return status, answer, parsed, seconds


@pytest.fixture
def start_web(tmp_path: Path) -> Iterator[Any]:
    """start_web(**env) -> Web: a web server process on the test database and media, with
    the given environment on top (CELERY_BROKER_URL, SAM_VAR_DIR, ...)."""
    started: list[Web] = []

    def start(**env: str) -> Web:
        port = free_port()
        log = tmp_path / f"web-{port}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}",
                 "--noreload", "--skip-checks"],
                cwd=REPO_ROOT, env=worker_env(**env), stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        web = Web(proc, f"http://127.0.0.1:{port}", log)
        started.append(web)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"web server exited:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(web.url + "/healthz", timeout=5):
                    return web
            except urllib.error.HTTPError:
                return web  # answering, even if unhealthy
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"web server not up in 60 s:\n{log.read_text()[-3000:]}")

    yield start
    for web in started:
        web.proc.terminate()
        try:
            web.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            web.proc.kill()
            web.proc.wait()


@pytest.fixture
def silent_broker() -> Iterator[Any]:
    """silent_broker(port): something that accepts TCP connections on the port and never
    answers, like a hung Redis or a half-open connection through a dead NAT."""
    sockets: list[socket.socket] = []

    def listen(port: int) -> None:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", port))
        server.listen(64)  # the kernel completes handshakes; nobody ever reads or writes
        sockets.append(server)

    yield listen
    for server in sockets:
        server.close()


def worker_log_wait(log: Path, needle: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if needle in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited:\n{log.read_text()[-4000:]}")
        time.sleep(0.05)
    raise AssertionError(f"{needle!r} not in the worker log after {timeout} s:\n{log.read_text()}")


def kill_when_logged(log: Path, needle: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGKILL the worker once its log says it is mid-work, as the OOM killer or a lost node
    would (no handler runs, nothing is acknowledged); make sure it is gone whatever happens."""
    try:
        worker_log_wait(log, needle, proc, timeout=timeout)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            stop_worker(proc)


def media_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def embedding_files(media: Path, rows: Any) -> list[Path]:
    """The files ready embedding rows legitimately have in storage: the wire file the row
    names, its gzipped twin where one was written (it must inflate to exactly that file, or a
    client would be served a half-written one) and the hover atlas the row names, if any.
    Anything else under `embeddings/` is a leftover."""
    import gzip

    expected = []
    for row in rows:
        plain = media / row.file.name
        expected.append(plain)
        twin = plain.with_name(plain.name + ".gz")
        if twin.exists():
            assert gzip.decompress(twin.read_bytes()) == plain.read_bytes(), twin
            expected.append(twin)
        if row.atlas:
            expected.append(media / row.atlas.name)
    return sorted(expected)
