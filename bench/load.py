"""Load on loopback: N simulated annotators against a live server and a real Celery worker, for a
bounded time, while the worker keeps recomputing embeddings; and the worker's memory over a
longer run.

    .venv/bin/python -m bench.load --users 8 --seconds 60 [--worker-seconds 300] [--images 8]
                                   [--processes 4] [--write-results]

At scale (issue 15), against PostgreSQL and Redis started by tests/services.sh:

    bash tests/services.sh sh -c 'LOAD_DATABASE_URL=$DATABASE_URL \
        LOAD_BROKER_URL=$CELERY_BROKER_URL .venv/bin/python -m bench.load --users 32 \
        --seconds 300 --processes 4 --write-results'

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

`run_load` (bench/simulate.py) is the measured part; tests/load/test_load.py runs it against
pytest-django's live server and the test session's worker.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.common import (
    REFERENCE,
    RESULTS,
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
from bench.simulate import Recorder, Report, Target, run_load

# tests/load imports these from here, where they were defined first.
__all__ = ["Http", "Recorder", "Report", "Target", "format_report", "run_load", "synthetic_png"]

SECTION = "## Issue 8: load"
SECTION_SCALE = "## Issue 15: load at scale"


def _ms(values: list[float], q: float) -> float:
    return 1000 * percentile(values, q)


def format_report(report: Report, command: str, setup: str, section: str = SECTION) -> str:
    rec = report.rec
    locked = rec.tolerated[("lock", 423)]
    lines = [
        section, "", "```", command, "```", "", setup, "",
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
        f"every 0.25 s{'' if os.environ.get('LOAD_BROKER_URL') else '; the embedded broker polls its folder too'}), with the annotators' load on "
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


# --- The stand-alone bench: processes and data -----------------------------------------------------


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


def _server_command(port: int, threads: int, processes: int) -> tuple[list[str], str]:
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
        # The web image's own settings (deploy/gunicorn.conf.py), with the bench's bind and sizes.
        [sys.executable, "-m", "gunicorn", "webapp.wsgi", "--config", "deploy/gunicorn.conf.py",
         "-b", f"127.0.0.1:{port}", "--workers", str(processes), "--threads", str(threads),
         "--access-logfile", "/dev/null"],
        f"gunicorn (the `prod` extra, deploy/gunicorn.conf.py) with {processes} "
        f"process{'es' if processes > 1 else ''} of {threads} threads",
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
    parser.add_argument("--processes", type=int, default=1, help="gunicorn worker processes")
    parser.add_argument("--checkpoint", default=str(REFERENCE / "sam_vit_small.pth"))
    parser.add_argument("--write-results", action="store_true", help="record in bench/RESULTS.md")
    args = parser.parse_args()

    state, env = fresh_state("sam-annotator-load-")
    # Only the LOAD_* variables choose other services, never the shell's.
    for ours, theirs in (("LOAD_DATABASE_URL", "DATABASE_URL"),
                         ("LOAD_BROKER_URL", "CELERY_BROKER_URL")):  # fmt: skip
        env.pop(theirs, None)
        if os.environ.get(ours):
            env[theirs] = os.environ[ours]
    script = SETUP_SCRIPT.format(checkpoint=args.checkpoint, users=args.users)
    ids = json.loads(manage_shell(env, script))

    threads = max(8, args.users * 2 // args.processes)
    server_cmd, server_name = _server_command(args.port, threads, args.processes)
    log = open(Path(state) / "processes.log", "wb")  # noqa: SIM115 - lives as long as they do
    server = subprocess.Popen(server_cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    worker = start_worker(env, log)
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
        f"--worker-seconds {report.worker_seconds:g} --images {args.images} "
        f"--processes {args.processes} --write-results"
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
    # The PostgreSQL + Redis run at scale has its own section beside the embedded-defaults one.
    section = SECTION_SCALE if os.environ.get("LOAD_DATABASE_URL") else SECTION
    if section == SECTION_SCALE:
        command = (
            "bash tests/services.sh sh -c 'LOAD_DATABASE_URL=$DATABASE_URL "
            f"LOAD_BROKER_URL=$CELERY_BROKER_URL {command}'"
        )
    text = format_report(report, command, setup, section)
    print(text)
    if args.write_results:
        write_results(text, section, RESULTS)
    if report.rec.errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
