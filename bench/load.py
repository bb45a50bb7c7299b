"""Load on loopback: N simulated annotators against a live server and a real Celery worker, for a
bounded time, while the worker keeps recomputing embeddings; and the worker's memory over a
longer run.

    .venv/bin/python -m bench.load --users 8 --seconds 60 [--worker-seconds 300] [--images 8]
                                   [--write-results]

Everything runs in a fresh state folder (SAM_VAR_DIR: SQLite, media, the embedded broker);
LOAD_DATABASE_URL and LOAD_BROKER_URL point the server and the worker at PostgreSQL / Redis
instead. The script migrates, creates N annotators and a manager with API tokens, a project of
--images images for the annotators and a second one of two images whose embeddings the worker
recomputes over and over, both on the reference pack's `sam_vit_small.pth`. It starts the web
server the README's production section names (gunicorn with threads) when it is installed, else
Django's threaded `runserver`, and `celery worker -Q default,gpu --pool=solo`; uploads the
images through the API and waits for their embeddings (the model loads once, before the clock).

Then, for --seconds, each annotator loops like the page does: next-image, open the image (its
JSON, its annotations, its file), fetch the embedding (the 1 MB binary), take the edit lock,
create an annotation (a polygon), update it with the version it got, release the lock. A 423 on
the lock (another annotator took that image between next-image and lock) is contention, not an
error; anything else that is not the expected status is an error. Meanwhile, for
--worker-seconds (at least --seconds), the manager asks for one recompute at a time and waits
until it is ready, and the worker's RSS (and the web server's, when it is a separate process) is
read from /proc every second: start, middle, end, peak, the floor (minimum) of each half, and the
least-squares slope in MB/min over the whole run and its second half. The script exits 1 if any
request failed.

`run_load` is the measured part; tests/load/test_load.py runs it against pytest-django's live
server and the test session's worker.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.api import wait_http

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = Path(os.environ.get("SAM_REFERENCE_DIR", ROOT.parent / "shared" / "reference"))
SECTION = "## Issue 8: load"
# The wire format of a (256, 64, 64) embedding is a little over 1 MiB; anything much shorter is
# a truncated answer.
MIN_EMBEDDING_BYTES = 256 * 64 * 64


# --- HTTP ----------------------------------------------------------------------------------------


class Http:
    """One user's API client: a token, a fresh loopback connection per request (as bench/api.py;
    the dev server does not keep connections alive)."""

    def __init__(self, base_url: str, token: str, timeout: float = 120) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.token, self.timeout = token, timeout

    def call(
        self, method: str, path: str, body: Any = None, raw: bytes | None = None,
        content_type: str = "application/json",
    ) -> tuple[int, bytes, dict[str, str]]:  # fmt: skip
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


@dataclass
class Recorder:
    """Latency per endpoint, status counts, errors (any status not expected), and the statuses
    that are normal but not success (`tolerated`: a 423 on a lock someone else took, a 202 while
    an embedding is computed)."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    tolerated: Counter[tuple[str, int]] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def call(
        self, http: Http, endpoint: str, method: str, path: str, *, ok: tuple[int, ...],
        tolerated: tuple[int, ...] = (), body: Any = None,
    ) -> tuple[int, bytes, dict[str, str]]:  # fmt: skip
        started = time.perf_counter()
        try:
            status, data, headers = http.call(method, path, body)
        except OSError as exc:  # refused, reset, timed out: the request was not answered
            status, data, headers = 0, f"{type(exc).__name__}: {exc}".encode(), {}
        elapsed = time.perf_counter() - started
        with self.lock:
            self.latencies.setdefault(endpoint, []).append(elapsed)
            self.statuses[(endpoint, status)] += 1
            if status in tolerated:
                self.tolerated[(endpoint, status)] += 1
            elif status not in ok:
                self.errors.append(f"{endpoint} {method} {path}: {status} {data[:160]!r}")
        return status, data, headers

    def fail(self, message: str) -> None:
        with self.lock:
            self.errors.append(message)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    @property
    def unanswered(self) -> int:
        """Requests that got no HTTP answer at all (refused, reset, timed out)."""
        return sum(n for (_, status), n in self.statuses.items() if status == 0)


def _polygon(width: int, height: int, rng: random.Random) -> list[dict[str, Any]]:
    size = rng.randint(8, max(9, min(width, height) // 3))
    x, y = rng.randint(0, width - size - 1), rng.randint(0, height - size - 1)
    outer = [[x, y], [x + size, y], [x + size // 2, y + size], [x, y + size // 2]]
    return [{"outer": outer, "holes": []}]


def annotator_loop(
    http: Http, project_id: int, label_id: int, stop_at: float, rec: Recorder, seed: int
) -> int:
    """What the annotation page does per image, until `stop_at`; returns images annotated."""
    rng = random.Random(seed)
    after: int | None = None
    done = 0
    while time.monotonic() < stop_at:
        query = f"?after={after}" if after is not None else ""
        status, data, _ = rec.call(
            http,
            "next-image",
            "GET",
            f"/api/projects/{project_id}/next-image{query}",
            ok=(200, 204),
        )
        if status == 204:  # every open image is locked by someone else right now
            after = None
            time.sleep(0.05)
            continue
        if status != 200:
            continue
        image = json.loads(data)
        iid = image["id"]
        after = iid
        rec.call(http, "image", "GET", f"/api/images/{iid}/", ok=(200,))
        rec.call(http, "annotations list", "GET", f"/api/images/{iid}/annotations/", ok=(200,))
        rec.call(http, "image file", "GET", f"/api/images/{iid}/file", ok=(200,))
        status, data, headers = rec.call(
            http, "embedding", "GET", f"/api/images/{iid}/embedding", ok=(200,)
        )
        expected = int(headers.get("content-length", len(data)))
        if status == 200 and (len(data) != expected or len(data) < MIN_EMBEDDING_BYTES):
            rec.fail(f"embedding of {iid}: {len(data)} bytes of {expected}")
        status, _, _ = rec.call(
            http, "lock", "POST", f"/api/images/{iid}/lock", ok=(200,), tolerated=(423,)
        )
        if status != 200:
            continue
        status, data, _ = rec.call(
            http, "annotation create", "POST", f"/api/images/{iid}/annotations/", ok=(201,),
            body={"label": label_id, "polygons": _polygon(image["width"], image["height"], rng)},
        )  # fmt: skip
        if status == 201:
            created = json.loads(data)
            body = {
                "version": created["version"],
                "polygons": _polygon(image["width"], image["height"], rng),
            }
            rec.call(
                http, "annotation update", "PATCH", f"/api/annotations/{created['id']}/",
                ok=(200,), body=body,
            )  # fmt: skip
        rec.call(http, "unlock", "DELETE", f"/api/images/{iid}/lock", ok=(200,))
        done += 1
    return done


def churn_loop(
    http: Http, image_ids: list[int], stop_at: float, rec: Recorder, timings: list[float]
) -> None:
    """Keeps the worker busy: recompute one embedding, wait until it is ready, the next one."""
    index = 0
    while time.monotonic() < stop_at:
        iid = image_ids[index % len(image_ids)]
        index += 1
        started = time.monotonic()
        status, _, _ = rec.call(
            http, "recompute", "POST", f"/api/images/{iid}/embedding", ok=(202,)
        )
        if status != 202:
            time.sleep(1)
            continue
        while True:
            time.sleep(0.25)
            status, _, _ = rec.call(
                http, "recompute poll", "GET", f"/api/images/{iid}/embedding", ok=(200,),
                tolerated=(202,),
            )  # fmt: skip
            if status == 200:
                timings.append(time.monotonic() - started)
                break
            if status != 202 or time.monotonic() - started > 300:
                rec.fail(f"recompute of {iid}: {status} after {time.monotonic() - started:.0f} s")
                break


# --- Memory --------------------------------------------------------------------------------------


def _own_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        return None
    return None


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command name in parentheses may hold spaces; the parent pid follows it.
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def rss_mb(pid: int) -> float | None:
    """Resident set size of a process and its descendants from /proc (psutil is not a
    dependency): gunicorn's arbiter and a prefork pool's parent do no work themselves, their
    children do. None once the process is gone."""
    own = _own_rss_mb(pid)
    if own is None:
        return None
    return own + sum(rss_mb(child) or 0.0 for child in _children(pid))


class RssSampler(threading.Thread):
    def __init__(self, pids: dict[str, int], interval: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.pids, self.interval = pids, interval
        self.samples: dict[str, list[tuple[float, float]]] = {name: [] for name in pids}
        self.halt = threading.Event()
        self.t0 = time.monotonic()

    def run(self) -> None:
        while True:
            now = time.monotonic() - self.t0
            for name, pid in self.pids.items():
                value = rss_mb(pid)
                if value is not None:
                    self.samples[name].append((now, value))
            if self.halt.wait(self.interval):
                return

    def stop(self) -> None:
        self.halt.set()
        self.join()


def _slope(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) samples, in MB per minute."""
    if len(samples) < 2:
        return 0.0
    n = len(samples)
    mean_t = sum(t for t, _ in samples) / n
    mean_y = sum(y for _, y in samples) / n
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    return sum((t - mean_t) * (y - mean_y) for t, y in samples) / var * 60 if var else 0.0


def rss_summary(samples: list[tuple[float, float]]) -> dict[str, float]:
    """Start, middle, end and peak (MB) of a series; its slope (MB/min) over the whole run and
    over the second half; and its floor (minimum) in each half. A worker's RSS swings by the
    activations of the image in hand, so the floors (between tasks) show growth better than
    any single sample."""
    if not samples:
        return {}
    ys = [y for _, y in samples]
    mid_t = (samples[0][0] + samples[-1][0]) / 2
    early = [s for s in samples if s[0] <= mid_t]
    late = [s for s in samples if s[0] >= mid_t]
    return {
        "start": ys[0], "middle": min(samples, key=lambda s: abs(s[0] - mid_t))[1],
        "end": ys[-1], "peak": max(ys), "slope": _slope(samples), "slope_late": _slope(late),
        "floor_early": min(y for _, y in early), "floor_late": min(y for _, y in late),
        "minutes": (samples[-1][0] - samples[0][0]) / 60, "samples": len(samples),
    }  # fmt: skip


# --- The run -------------------------------------------------------------------------------------


@dataclass
class Target:
    """What run_load needs: where the server is, who the users are, what they work on."""

    base_url: str
    annotator_tokens: list[str]
    manager_token: str
    project_id: int
    label_id: int
    churn_image_ids: list[int]
    pids: dict[str, int]  # name -> pid of the processes whose memory is sampled


@dataclass
class Report:
    users: int
    seconds: float
    worker_seconds: float
    wall: float
    rec: Recorder
    images_done: int
    recompute_seconds: list[float]
    rss: dict[str, dict[str, float]]
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]

    @property
    def annotator_requests(self) -> int:
        return sum(len(v) for k, v in self.rec.latencies.items() if not k.startswith("recompute"))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else 0.0


def run_load(target: Target, *, users: int, seconds: float, worker_seconds: float = 0.0) -> Report:
    """N annotator threads for `seconds`, the recompute loop for max(seconds, worker_seconds),
    memory sampled the whole time."""
    if users > len(target.annotator_tokens):
        raise ValueError(f"{users} users but only {len(target.annotator_tokens)} tokens")
    worker_seconds = max(worker_seconds, seconds)
    rec = Recorder()
    sampler = RssSampler(target.pids)
    load_before = os.getloadavg()
    sampler.start()
    t0 = time.monotonic()
    recompute: list[float] = []
    churn = threading.Thread(
        target=churn_loop,
        args=(Http(target.base_url, target.manager_token), target.churn_image_ids,
              t0 + worker_seconds, rec, recompute),
    )  # fmt: skip
    done: list[int] = []

    def annotate(i: int) -> None:
        http = Http(target.base_url, target.annotator_tokens[i])
        done.append(annotator_loop(http, target.project_id, target.label_id, t0 + seconds, rec, i))

    threads = [threading.Thread(target=annotate, args=(i,)) for i in range(users)]
    churn.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    load_after = os.getloadavg()
    churn.join()
    sampler.stop()
    return Report(
        users=users, seconds=seconds, worker_seconds=worker_seconds, wall=wall, rec=rec,
        images_done=sum(done), recompute_seconds=recompute,
        rss={name: rss_summary(s) for name, s in sampler.samples.items()},
        load_before=load_before, load_after=load_after,
    )  # fmt: skip


def _ms(values: list[float], q: float) -> float:
    return 1000 * percentile(values, q)


def format_report(report: Report, command: str, setup: str) -> str:
    rec = report.rec
    locked = rec.tolerated[("lock", 423)]
    lines = [
        SECTION, "", "```", command, "```", "", setup, "",
        f"**Annotators ({report.users} users, {report.seconds:g} s):** "
        f"{report.annotator_requests / report.wall:.1f} requests/s "
        f"({report.annotator_requests} requests in {report.wall:.1f} s), "
        f"{report.images_done} images annotated (open, embedding, lock, create, update, unlock). "
        f"**Errors: {len(rec.errors)}** of {rec.requests} requests (annotators' and the "
        f"recompute loop's), {rec.unanswered} unanswered (no HTTP status). "
        f"Lock contention: {locked} locks refused with 423 because another annotator took the "
        "image between next-image and lock (expected; that annotator moves on).",
        "",
        "| endpoint | count | p50 | p99 |",
        "| --- | ---: | ---: | ---: |",
    ]  # fmt: skip
    ordered = sorted(rec.latencies.items(), key=lambda item: item[0].startswith("recompute"))
    for endpoint, values in ordered:
        lines.append(
            f"| {endpoint} | {len(values)} | {_ms(values, 0.5):.1f} ms | {_ms(values, 0.99):.1f} ms |"
        )
    times = report.recompute_seconds
    lines += [
        "",
        f"**Worker ({report.worker_seconds / 60:.1f} min):** {len(times)} embeddings recomputed "
        f"one after another (median {percentile(times, 0.5):.1f} s from POST to ready, polling "
        "every 0.25 s; the embedded broker polls its folder too), with the annotators' load on "
        f"top for the first {report.seconds:g} s. RSS read from /proc every second:",
        "",
        "| process | start | middle | end | peak | floor 1st half | floor 2nd half "
        "| slope | slope 2nd half |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in report.rss.items():
        if r:
            lines.append(
                f"| {name} | {r['start']:.0f} MB | {r['middle']:.0f} MB | {r['end']:.0f} MB | "
                f"{r['peak']:.0f} MB | {r['floor_early']:.0f} MB | {r['floor_late']:.0f} MB | "
                f"{r['slope']:+.2f} MB/min | {r['slope_late']:+.2f} MB/min |"
            )
    lines += [
        "",
        "The worker's RSS rises by one image's activations while it computes and falls back between "
        "tasks, so single samples (and a slope over few minutes) swing with where a sample lands; "
        "the floors, its RSS between tasks, show growth.",
    ]
    b, a = report.load_before, report.load_after
    lines += [
        "",
        f"Machine: {os.cpu_count()} cores (other jobs may share them); load average "
        f"(1/5/15 min) {b[0]:.2f} / {b[1]:.2f} / {b[2]:.2f} before the run, "
        f"{a[0]:.2f} / {a[1]:.2f} / {a[2]:.2f} when the annotators stopped. Latencies include the "
        "worker computing embeddings on the same cores.",
    ]
    if rec.errors:
        lines.append(f"First errors: {rec.errors[:5]}")
    return "\n".join(lines)


def write_results(text: str, path: Path = ROOT / "bench" / "RESULTS.md") -> None:
    """Replace this script's section of RESULTS.md (or append it), keeping the others."""
    current = path.read_text() if path.exists() else "# Benchmark results\n"
    before, after = current, ""
    start = current.find(SECTION)
    if start >= 0:
        end = current.find("\n## ", start + len(SECTION))
        before, after = current[:start], (current[end + 1 :] if end >= 0 else "")
    parts = [before.rstrip(), text.strip(), after.strip()]
    path.write_text("\n\n".join(part for part in parts if part) + "\n")


# --- The stand-alone bench: processes and data -----------------------------------------------------


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


SETUP_SCRIPT = """
import json
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from annotator import services
from annotator.models import Role
User = get_user_model()
manager = User.objects.create_user('load-manager', password='load-manager-password')
labels = [('thing', '#ff0000')]
project = services.project_create(name='load', created_by=manager, labels=labels,
                                  sam_checkpoint={checkpoint!r})
churn = services.project_create(name='load: recompute', created_by=manager, labels=labels,
                                sam_checkpoint={checkpoint!r})
tokens = []
for i in range({users}):
    user = User.objects.create_user(f'annotator{{i}}', password=f'annotator-password-{{i}}')
    project.memberships.create(user=user, role=Role.ANNOTATOR)
    tokens.append(Token.objects.create(user=user).key)
print(json.dumps({{'project': project.pk, 'churn': churn.pk, 'label': project.labels.get().pk,
                  'manager': Token.objects.create(user=manager).key, 'annotators': tokens}}))
"""


def _server_command(port: int, threads: int) -> tuple[list[str], str]:
    """gunicorn (the README's production server, extra `prod`) if installed, else runserver."""
    try:
        import gunicorn  # noqa: F401
    except ImportError:
        return (
            [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
            "`manage.py runserver` (Django's ThreadedWSGIServer, a thread per request; gunicorn, "
            "the production server, is not installed here)",
        )
    return (
        [sys.executable, "-m", "gunicorn", "webapp.wsgi", "-b", f"127.0.0.1:{port}",
         "--workers", "1", "--threads", str(threads)],
        f"gunicorn (the `prod` extra) with 1 process of {threads} threads",
    )  # fmt: skip


def _upload_and_wait(http: Http, project_id: int, files: list[tuple[str, bytes]]) -> list[int]:
    raw, content_type = multipart(files)
    status, body, _ = http.call(
        "POST", f"/api/projects/{project_id}/images/", raw=raw, content_type=content_type
    )
    if status != 201:
        raise RuntimeError(f"upload: {status} {body[:300]!r}")
    ids = [image["id"] for image in json.loads(body)]
    deadline = time.monotonic() + 900
    for iid in ids:
        while (status := http.call("GET", f"/api/images/{iid}/embedding")[0]) != 200:
            if status != 202 or time.monotonic() > deadline:
                raise RuntimeError(f"embedding of image {iid}: {status}")
            time.sleep(0.5)
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--worker-seconds", type=float, default=0, help="default: --seconds")
    parser.add_argument("--images", type=int, default=8, help="images the annotators work on")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--checkpoint", default=str(REFERENCE / "sam_vit_small.pth"))
    parser.add_argument("--write-results", action="store_true", help="record in bench/RESULTS.md")
    args = parser.parse_args()

    state = tempfile.mkdtemp(prefix="sam-annotator-load-")
    env = {**os.environ, "SAM_VAR_DIR": state, "DJANGO_ENV": "dev", "DJANGO_DEBUG": "true", "LOG_LEVEL": "WARNING",
           "SAM_ONNX_VERIFY_PROMPTS": "2", "PYTHONUNBUFFERED": "1"}  # fmt: skip
    # A DATABASE_URL from the shell would point the bench at someone else's database; only the
    # LOAD_* variables choose other services.
    for ours, theirs in (("LOAD_DATABASE_URL", "DATABASE_URL"),
                         ("LOAD_BROKER_URL", "CELERY_BROKER_URL")):  # fmt: skip
        env.pop(theirs, None)
        if os.environ.get(ours):
            env[theirs] = os.environ[ours]
    py = sys.executable
    subprocess.run([py, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    script = SETUP_SCRIPT.format(checkpoint=args.checkpoint, users=args.users)
    out = subprocess.run([py, "manage.py", "shell", "-c", script], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True)  # fmt: skip
    ids = json.loads(out.stdout.strip().splitlines()[-1])

    server_cmd, server_name = _server_command(args.port, threads=max(8, args.users * 2))
    log = open(Path(state) / "processes.log", "wb")  # noqa: SIM115 - lives as long as they do
    server = subprocess.Popen(server_cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    worker = subprocess.Popen(
        [py, "-m", "celery", "-A", "webapp", "worker", "-Q", "default,gpu", "--pool=solo",
         "--loglevel=WARNING", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_http(args.port, timeout=90, proc=server)
        base_url = f"http://127.0.0.1:{args.port}"
        manager = Http(base_url, ids["manager"], timeout=300)
        started = time.monotonic()
        files = [("chelsea.png", (REFERENCE / "chelsea.png").read_bytes()),
                 ("rocket.png", (REFERENCE / "rocket.png").read_bytes())]  # fmt: skip
        files += [(f"synthetic-{i}.png", synthetic_png(i)) for i in range(args.images)]
        _upload_and_wait(manager, ids["project"], files[: args.images])
        churn_ids = _upload_and_wait(
            manager, ids["churn"], [(f"churn-{i}.png", synthetic_png(1000 + i)) for i in range(2)]
        )
        prepare = time.monotonic() - started
        target = Target(
            base_url=base_url, annotator_tokens=ids["annotators"], manager_token=ids["manager"],
            project_id=ids["project"], label_id=ids["label"], churn_image_ids=churn_ids,
            pids={"celery worker": worker.pid, "web server": server.pid},
        )  # fmt: skip
        report = run_load(
            target, users=args.users, seconds=args.seconds, worker_seconds=args.worker_seconds
        )
    finally:
        for proc in (server, worker):
            proc.terminate()
        for proc in (server, worker):
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()

    command = (
        f".venv/bin/python -m bench.load --users {args.users} --seconds {args.seconds:g} "
        f"--worker-seconds {report.worker_seconds:g} --images {args.images} --write-results"
    )
    db = "PostgreSQL" if os.environ.get("LOAD_DATABASE_URL") else "SQLite"
    broker = "Redis" if os.environ.get("LOAD_BROKER_URL") else "the embedded filesystem broker"
    setup = (
        f"{args.users} annotator threads on loopback against {server_name}, {db}, local media, "
        f"{broker}, and one real Celery worker (`--pool=solo`, queues default and gpu) running "
        f"the reference pack's sam_vit_small on the CPU. {args.images} images (the pack's two "
        "photos and 640x480 synthetic ones) were uploaded through the API and embedded before "
        f"the clock started ({prepare:.0f} s, with the worker's model load and one-time ONNX "
        "export). Each annotator loops: GET next-image, GET the image, its annotations and its "
        "file, GET the embedding (1 MB binary), POST lock, POST an annotation (a polygon), PATCH "
        "it with its version, DELETE lock; each request opens a new connection."
    )
    text = format_report(report, command, setup)
    print(text)
    if args.write_results:
        write_results(text)
    if report.rec.errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
