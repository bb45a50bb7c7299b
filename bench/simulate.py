"""The measured part of bench/load.py: N simulated annotators working like the annotation page
against a live server while a manager keeps the worker recomputing embeddings, with the worker's
and the server's memory sampled all along (`run_load`). tests/load/test_load.py runs it against
pytest-django's live server and the test session's worker.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench.common import Http
from bench.memory import RssSampler, rss_summary

# The wire format of a (256, 64, 64) embedding is a little over 1 MiB; anything much shorter is
# a truncated answer.
MIN_EMBEDDING_BYTES = 256 * 64 * 64


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
