"""REST API under load: N concurrent clients on loopback against the real dev server and a real
Celery worker, for a bounded time.

    .venv/bin/python bench/api.py [--clients 8] [--seconds 20] [--images 6] [--checkpoint PATH]

Everything runs in a fresh state folder (SQLite, media, embedded broker): the script migrates,
creates a user with a token and a project on the reference pack's `sam_vit_small.pth`, starts
`manage.py runserver` (threaded) and `celery worker -Q default,gpu`, uploads images through the
API and waits until their embeddings are ready. Then each client loops for --seconds over
  - annotation save: PATCH of its own annotation with the version it holds (optimistic
    concurrency; a 409 would count as an error, as would anything but 2xx), and
  - embedding download: GET /api/images/{id}/embedding of a random image (1.05 MB, fresh
    each time: no If-None-Match),
and the script prints p50/p99 latency of both, requests/s and errors, and with --write records
them in bench/RESULTS.md under "## REST API (issue 5)".
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run by path: find bench.common

from bench.common import (  # noqa: E402
    REFERENCE,
    ROOT,
    Http,
    fresh_state,
    manage_shell,
    multipart,
    percentile,
    start_worker,
    synthetic_png,
    wait_http,
    write_results,
)

SECTION = "## REST API (issue 5)"
SETUP_SCRIPT = """
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from annotator import services
u = get_user_model().objects.create_user('bench', password='bench-password')
p = services.project_create(name='bench', created_by=u, labels=[('thing', '#ff0000')],
                            sam_checkpoint={checkpoint!r})
print(Token.objects.create(user=u).key)
"""


def client_loop(api: Http, image_ids: list[int], annotation: dict[str, Any], label: int,
                stop: float, out: dict[str, Any], seed: int) -> None:  # fmt: skip
    rng = random.Random(seed)
    version = annotation["version"]
    size = 10
    while time.monotonic() < stop:
        size = 10 + (size + 1) % 30
        polygons = [
            {"outer": [[5, 5], [5 + size, 5], [5 + size, 5 + size], [5, 5 + size]], "holes": []}
        ]
        started = time.perf_counter()
        try:
            status, body, _ = api.call(
                "PATCH", f"/api/annotations/{annotation['id']}/",
                {"version": version, "polygons": polygons, "label": label},
            )  # fmt: skip
        except OSError as exc:
            status, body = 0, str(exc).encode()
        out["save"].append(time.perf_counter() - started)
        if status == 200:
            version = json.loads(body)["version"]
        else:
            out["errors"].append(f"save {status} {body[:120]!r}")
        started = time.perf_counter()
        try:
            status, body, _ = api.call("GET", f"/api/images/{rng.choice(image_ids)}/embedding")
        except OSError as exc:
            status, body = 0, str(exc).encode()
        out["download"].append(time.perf_counter() - started)
        if status != 200 or len(body) != 1_050_688:
            out["errors"].append(f"download {status} {len(body)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--images", type=int, default=6)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--checkpoint", default=str(REFERENCE / "sam_vit_small.pth"))
    parser.add_argument("--write", action="store_true", help="record in bench/RESULTS.md")
    args = parser.parse_args()

    state, env = fresh_state("sam-annotator-bench-")
    token = manage_shell(env, SETUP_SCRIPT.format(checkpoint=args.checkpoint))
    log = open(Path(state) / "processes.log", "wb")  # noqa: SIM115 - lives as long as they do
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{args.port}"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    worker = start_worker(env, log)
    try:
        wait_http(args.port)
        api = Http(f"http://127.0.0.1:{args.port}", token, timeout=60)
        status, body, _ = api.call("GET", "/api/projects/")
        project = json.loads(body)["results"][0]
        label = project["labels"][0]["id"]
        files = [("chelsea.png", (REFERENCE / "chelsea.png").read_bytes()),
                 ("rocket.png", (REFERENCE / "rocket.png").read_bytes())]  # fmt: skip
        files += [(f"synthetic-{i}.png", synthetic_png(i)) for i in range(max(0, args.images - 2))]
        raw, content_type = multipart(files[: args.images])
        status, body, _ = api.call("POST", f"/api/projects/{project['id']}/images/", raw=raw,
                                content_type=content_type)  # fmt: skip
        assert status == 201, body[:500]
        image_ids = [image["id"] for image in json.loads(body)]
        started = time.monotonic()
        for image_id in image_ids:
            while api.call("GET", f"/api/images/{image_id}/embedding")[0] != 200:
                if time.monotonic() - started > 600:
                    raise RuntimeError("embeddings not ready in 10 minutes")
                time.sleep(0.5)
        embed_wait = time.monotonic() - started
        annotations = []
        for i in range(args.clients):
            polygons = [{"outer": [[1, 1], [9, 1], [9, 9], [1, 9]], "holes": []}]
            status, body, _ = api.call("POST", f"/api/images/{image_ids[i % len(image_ids)]}/annotations/",
                                    {"label": label, "polygons": polygons})  # fmt: skip
            assert status == 201, body
            annotations.append(json.loads(body))

        load_before = os.getloadavg()[0]
        out: dict[str, Any] = {"save": [], "download": [], "errors": []}
        stop = time.monotonic() + args.seconds
        threads = [
            threading.Thread(target=client_loop, args=(api, image_ids, annotations[i], label, stop, out, i))
            for i in range(args.clients)
        ]  # fmt: skip
        wall = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - wall
    finally:
        server.terminate()
        worker.terminate()
        server.wait(20)
        worker.wait(20)
        log.close()

    ms = lambda values, q: 1000 * percentile(values, q)  # noqa: E731
    total = len(out["save"]) + len(out["download"])
    lines = [
        SECTION,
        "",
        "```",
        f".venv/bin/python bench/api.py --clients {args.clients} --seconds {args.seconds:g} "
        f"--images {args.images} --write",
        "```",
        "",
        f"{args.clients} concurrent clients on loopback for {args.seconds:g} s against "
        "`manage.py runserver` (threaded, SQLite, local media) with a real Celery worker; "
        f"{len(image_ids)} images uploaded through the API and embedded by the worker "
        f"(sam_vit_small from the reference pack; includes the worker's one-time model load and "
        f"ONNX export) in {embed_wait:.1f} s before the clock starts.",
        "Each client alternates an annotation save (PATCH with its version) and an embedding "
        "download (1.05 MB wire format, no cache).",
        "",
        "| request | count | p50 | p99 |",
        "| --- | ---: | ---: | ---: |",
        f"| annotation save | {len(out['save'])} | {ms(out['save'], 0.5):.1f} ms | "
        f"{ms(out['save'], 0.99):.1f} ms |",
        f"| embedding download | {len(out['download'])} | {ms(out['download'], 0.5):.1f} ms | "
        f"{ms(out['download'], 0.99):.1f} ms |",
        "",
        f"Throughput {total / wall:.0f} requests/s; errors: {len(out['errors'])} of {total}. "
        f"Machine load average {load_before:.1f} before the run ({os.cpu_count()} cores): other "
        "processes on the machine inflate the latencies.",
    ]
    if out["errors"]:
        lines.append(f"First errors: {out['errors'][:3]}")
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_results(text, SECTION)


if __name__ == "__main__":
    main()
