"""What the benches share: where the repository and the reference pack are, percentiles, the
synthetic upload and its multipart body, an API client, waiting for a server, recording a
section of bench/RESULTS.md, and the reference worker process and `set_image` timer of the
encoder benches.

Scripts run by path (``python bench/api.py``) put the repository root on ``sys.path`` before
importing this module; ``python -m bench.load`` and the tests find it as ``bench.common``.
"""

from __future__ import annotations

import http.client
import io
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
# The parity pack (README: ../shared/reference): checkpoints with small random weights, images.
REFERENCE = Path(os.environ.get("SAM_REFERENCE_DIR", ROOT.parent / "shared" / "reference"))
RESULTS = ROOT / "bench" / "RESULTS.md"


def percentile(values: list[float], q: float, *, interpolate: bool = False) -> float:
    """The `q` quantile (0 to 1) of `values`.

    By default the nearest rank (a value that occurred; 0.0 for no values), as the server
    benches have always reported p50/p99; with `interpolate`, linear between the two nearest
    ranks as numpy's default does (NaN for no values), as page_latency.py reports.
    """
    ordered = sorted(values)
    if not interpolate:
        return (
            ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else 0.0
        )
    if not ordered:
        return math.nan
    k = (len(ordered) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def synthetic_png(seed: int, width: int = 640, height: int = 480) -> bytes:
    """A photo-like image (smooth gradients and a few shapes; noise would make a 1 MB PNG)."""
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([(xx * rng.uniform(0.1, 0.4) + yy * rng.uniform(0.1, 0.4) + c * 60) % 256
                     for c in range(3)], axis=-1).astype(np.uint8)  # fmt: skip
    image = Image.fromarray(base)
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x, y = int(rng.integers(0, width - 80)), int(rng.integers(0, height - 80))
        size = int(rng.integers(30, 80))
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        draw.ellipse([x, y, x + size, y + size], fill=fill)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def multipart(files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    """The body and content type of an upload of `files` (name, bytes) as the form field
    ``files``, as the upload endpoint takes them."""
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
        + data
        + b"\r\n"
        for name, data in files
    ]
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


class Http:
    """One user's API client: a token, a fresh loopback connection per request (the dev server
    does not keep connections alive)."""

    def __init__(self, base_url: str, token: str, timeout: float = 120) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.token, self.timeout = token, timeout

    def call(
        self, method: str, path: str, body: Any = None, raw: bytes | None = None,
        content_type: str = "application/json",
    ) -> tuple[int, bytes, dict[str, str]]:  # fmt: skip
        """(status, body, headers with lower-case names); `body` is sent as JSON, `raw` as is."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        headers = {"Authorization": f"Token {self.token}"}
        data = json.dumps(body).encode() if body is not None else raw
        if data is not None:
            headers["Content-Type"] = content_type
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            return (
                response.status,
                response.read(),
                {k.lower(): v for k, v in response.headers.items()},
            )
        finally:
            conn.close()


def wait_http(port: int, timeout: float = 60, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Until /healthz answers 200 on loopback; fails early when `proc` (the server) exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("the web server exited; see its log")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("dev server did not start")


def write_results(text: str, head: str | None = None, path: Path = RESULTS) -> None:
    """Replace the section of RESULTS.md that starts with `head` (default: the first line of
    `text`) by `text`, up to the next ``## `` heading, keeping the others; append it when the file
    has no such section."""
    head = head or text.lstrip().splitlines()[0]
    current = path.read_text() if path.exists() else "# Benchmark results\n"
    before, after = current, ""
    start = current.find(head)
    if start >= 0:
        end = current.find("\n## ", start + len(head))
        before, after = current[:start], (current[end + 1 :] if end >= 0 else "")
    parts = [before.rstrip(), text.strip(), after.strip()]
    path.write_text("\n\n".join(part for part in parts if part) + "\n")


# --- A fresh app and its processes (bench/api.py, bench/load.py) ---------------------------------


def fresh_state(prefix: str) -> tuple[str, dict[str, str]]:
    """A new state folder (SQLite, media, the embedded broker) and an environment that points
    manage.py, the server and the worker at it, with quiet logs and a short export check."""
    state = tempfile.mkdtemp(prefix=prefix)
    # Development mode: a plain-HTTP server on loopback with the fixed development key.
    env = {**os.environ, "SAM_VAR_DIR": state, "DJANGO_ENV": "dev", "DJANGO_DEBUG": "true",
           "LOG_LEVEL": "WARNING",
           "SAM_ONNX_VERIFY_PROMPTS": "2", "PYTHONUNBUFFERED": "1"}  # fmt: skip
    # The benches measure the embedded defaults; a DATABASE_URL from the shell would point them
    # at someone else's database.
    env.pop("DATABASE_URL", None)
    return state, env


def manage_shell(env: dict[str, str], script: str) -> str:
    """Migrate the database of `env`, run `script` in ``manage.py shell``; its last output line."""
    py = sys.executable
    subprocess.run([py, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    out = subprocess.run(
        [py, "manage.py", "shell", "-c", script], cwd=ROOT, env=env, check=True,
        capture_output=True, text=True,
    )  # fmt: skip
    return out.stdout.strip().splitlines()[-1]


def start_worker(env: dict[str, str], log: IO[bytes]) -> subprocess.Popen[bytes]:
    """One Celery worker on both queues, one task at a time, as the README runs it."""
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "webapp", "worker", "-Q", "default,gpu",
         "--pool=solo", "--loglevel=WARNING", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip


class LineWorker:
    """A reference implementation in a subprocess of its own virtual environment, driven line by
    line: one command per stdin line, one JSON reply per stdout line, `{"ready": torch version}`
    first. `bench/encoder.py` (SAM 1) and `bench/sam2_encoder.py` (SAM 2) run theirs this way.
    """

    def __init__(
        self,
        command: list[str],
        *,
        env: dict[str, str] | None = None,
        cwd: str | Path | None = None,
        close_timeout: float = 60,
    ) -> None:
        self.close_timeout = close_timeout
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=cwd
        )
        self.version = self.send(None)["ready"]

    def send(self, command: str | None) -> dict[str, Any]:
        """Write `command` (None: write nothing) and return the next reply."""
        assert self.process.stdin is not None and self.process.stdout is not None
        if command is not None:
            self.process.stdin.write(command + "\n")
            self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"reference worker exited with {self.process.wait()}")
        return dict(json.loads(line))

    def run(self) -> tuple[float, float]:
        """(wall seconds, process CPU seconds) of one set_image in the worker."""
        reply = self.send("run")
        return float(reply["seconds"]), float(reply["cpu"])

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=self.close_timeout)


def time_set_image(predictor: Any, image: Any) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of one `predictor.set_image(image)` in this process."""
    start, cpu = time.perf_counter(), time.process_time()
    predictor.set_image(image)
    return time.perf_counter() - start, time.process_time() - cpu


def timing_summary(wall: dict[str, list[float]], cpu: dict[str, list[float]]) -> dict[str, Any]:
    """The encoder benches' timing record: every time, the medians and minima per contender
    (those with no times left out), and the reference-over-"ours" ratios of wall median, wall
    minimum and CPU median."""
    median = {k: statistics.median(v) for k, v in wall.items() if v}
    fastest = {k: min(v) for k, v in wall.items() if v}
    cpu_median = {k: statistics.median(v) for k, v in cpu.items() if v}
    return {
        "times": wall,
        "cpu_times": cpu,
        "median": median,
        "min": fastest,
        "cpu_median": cpu_median,
        "ratio": median["reference"] / median["ours"],
        "ratio_of_min": fastest["reference"] / fastest["ours"],
        "ratio_of_cpu": cpu_median["reference"] / cpu_median["ours"],
    }
