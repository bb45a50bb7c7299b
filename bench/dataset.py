"""The dataset page's requests at scale: the image list (keyset pages, every filter and sort)
at --rows images on SQLite and PostgreSQL, and upload throughput against the API, in one run.

    bash tests/services.sh .venv/bin/python bench/dataset.py --rows 100000 1000000 --write

Each (database, rows) pair runs in a child process with a fresh database (SQLite in a temp
folder; PostgreSQL as a new database on the server DATABASE_URL names, skipped without one).
The child migrates, then bulk-inserts image rows with SQL (executemany on SQLite, COPY on
PostgreSQL; the list never opens the files, so none are written), annotations of two labels
(one on 30% of the images, one on 1%) and embedding rows (90% ready, 5% pending, 3% failed, 2%
none), runs ANALYZE, and times GET /api/projects/{id}/images/ in process (Django's test client:
view, queries and serialisation, no socket) for every filter under every sort, on the first
page and on a page 90% of the way through (keyset, ?cursor=), 50 rows a page. The reference,
measured in the same run, is the offset form existing clients use: the first page and
?offset=99000 (the issue's "measured today"). Then it uploads --upload-batches POSTs of
--upload-batch synthetic 640x480 PNGs into the same project (validation, normalisation, the
sha256 duplicate check against its rows, embedding requests) and reports images/s.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run by path: find bench.common

from bench.common import ROOT, multipart, percentile, synthetic_png, write_results  # noqa: E402

SECTION = "## Dataset page at scale"
PAGE = 50
FILTERS = {
    "none": {},
    "status=submitted": {"status": "submitted"},
    "assignee": {"assignee": "{assignee}"},
    "label (30%)": {"label": "{common}"},
    "label (1%)": {"label": "{rare}"},
    # The same requests with DRF's field-by-field rows, as before ImageSerializer wrote its
    # rows itself: the before/after of that change in one run.
    "none, before: DRF rows": {"_drf_rows": True},
    "label (1%), before: DRF rows": {"label": "{rare}", "_drf_rows": True},
    "embedding=ready": {"embedding": "ready"},
    "embedding=failed (3%)": {"embedding": "failed"},
    "embedding=none (2%)": {"embedding": "none"},
    "search (name prefix)": {"search": "ca"},
}
SORTS = ["id", "-id", "name", "-name", "status", "-status", "updated", "-updated"]
WORDS = ["cat", "car", "dog", "tree", "road", "bird", "boat", "cell", "leaf", "rock", "sky", "van"]
STATUSES = ["new"] * 8 + ["in_progress"] * 4 + ["submitted"] * 3 + ["accepted"] * 4 + ["rejected"]


# --- The child: one database, one size -----------------------------------------------------------


def child(
    db: str, rows: int, repeats: int, batch: int, batches: int, only: list[str] | None = None
) -> dict[str, Any]:
    state = tempfile.mkdtemp(prefix="bench-dataset-")
    os.environ.update(DJANGO_ENV="dev", SAM_VAR_DIR=state, LOG_LEVEL="ERROR")
    if db == "sqlite":
        os.environ.pop("DATABASE_URL", None)
    else:
        os.environ["DATABASE_URL"] = _fresh_pg_database(os.environ["DATABASE_URL"], rows)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    project, users = _project()
    started = time.perf_counter()
    ids = _insert(project, users, rows)
    insert_s = time.perf_counter() - started
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    result = {"db": db, "rows": rows, "insert_s": insert_s, "vendor": connection.vendor}
    result.update(_lists(project, users, ids, repeats, only))
    if batches:
        result["upload"] = _uploads(project, users["owner"], batch, batches)
    return result


def _fresh_pg_database(url: str, rows: int) -> str:
    import psycopg

    base, _, _ = url.rpartition("/")
    name = f"bench_dataset_{rows}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    return f"{base}/{name}"


def _project() -> tuple[Any, dict[str, Any]]:
    from django.contrib.auth import get_user_model

    from annotator import services

    User = get_user_model()
    owner = User.objects.create_user("owner", password="bench-password-1")
    project = services.project_create(
        name="bench", created_by=owner, labels=[("common", "#ff0000"), ("rare", "#00ff00")]
    )
    annotators = [User.objects.create_user(f"a{i}", password="x-bench-pw") for i in range(10)]
    for person in annotators:
        services.membership_set(project=project, user=person, role="annotator", by_role="owner")
    return project, {"owner": owner, "annotators": annotators}


def _insert(project: Any, users: dict[str, Any], rows: int) -> dict[str, int]:
    """Rows straight into the tables, in chunks, in one transaction."""
    from django.db import connection, transaction

    rng = random.Random(7)
    labels = dict(project.labels.values_list("name", "id"))
    assignees = [u.pk for u in users["annotators"]]
    now = datetime(2026, 11, 1, tzinfo=UTC)
    start_id = 1_000_000  # clear of the ids the uploads below will take
    image_cols = ["id", "project_id", "file", "original_name", "width", "height", "sha256",
                  "status", "assignee_id", "review_comment", "created_at", "updated_at",
                  "file_size"]  # fmt: skip
    ann_cols = ["image_id", "label_id", "polygons", "rle", "bbox", "area", "source", "prompts",
                "version", "created_at", "updated_at"]  # fmt: skip
    emb_cols = ["image_id", "sam_model_id", "status", "dtype", "shape", "file", "sha256", "error",
                "attempts", "worker", "created_at", "updated_at", "error_code"]  # fmt: skip
    chunk = 50_000
    with transaction.atomic(), connection.cursor() as cursor:
        for first in range(0, rows, chunk):
            images, anns, embs = [], [], []
            for i in range(first, min(rows, first + chunk)):
                pk = start_id + i
                name = f"{rng.choice(WORDS)}_{rng.randrange(10**9):09d}.jpg"
                created = now - timedelta(seconds=rows - i)
                updated = now - timedelta(seconds=rng.randrange(365 * 86400))
                assignee = rng.choice(assignees) if rng.random() < 0.7 else None
                images.append((pk, project.pk, f"projects/{project.pk}/images/{pk}.jpg", name,
                               640, 480, f"{pk:064x}", rng.choice(STATUSES), assignee, "",
                               created, updated, 100_000))  # fmt: skip
                for label, share in (("common", 0.3), ("rare", 0.01)):
                    if rng.random() < share:
                        anns.append((pk, labels[label], "[]", "{}", "[0,0,1,1]", 1.0, "manual",
                                     "{}", 1, created, created))  # fmt: skip
                roll = rng.random()
                if roll < 0.98:
                    status = "ready" if roll < 0.9 else "pending" if roll < 0.95 else "failed"
                    embs.append((pk, project.sam_model_id, status, "", "[]", "", "", "", 0, "",
                                 created, created, ""))  # fmt: skip
            _copy(cursor, "annotator_image", image_cols, images)
            _copy(cursor, "annotator_annotation", ann_cols, anns)
            _copy(cursor, "annotator_embedding", emb_cols, embs)
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence('annotator_image', 'id'), %s)",
                [start_id + rows],
            )
    return {"common": labels["common"], "rare": labels["rare"], "assignee": assignees[0]}


def _copy(cursor: Any, table: str, columns: list[str], rows: list[tuple]) -> None:
    if not rows:
        return
    names = ", ".join(columns)
    if cursor.db.vendor == "postgresql":
        with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join(["%s"] * len(columns))
    cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)


def _client(user: Any) -> Any:
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user)
    return client


def _timed(client: Any, url: str, params: dict[str, Any]) -> float:
    started = time.perf_counter()
    response = client.get(url, params)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"{url} {params}: {response.status_code} {response.content[:300]!r}")
    return elapsed * 1000


def _deep_cursor(project: Any, filters: dict[str, Any], ordering: str) -> str:
    """A cursor 90% of the way through the filtered, sorted list (found with an offset, not
    timed)."""
    from annotator import selectors

    images = selectors.image_list(project=project, filters=filters, ordering=ordering)
    total = images.count()
    row = images[max(0, int(total * 0.9) - 1)]
    key = selectors.image_sort_value(image=row, ordering=ordering)
    key = [v.isoformat() if isinstance(v, datetime) else v for v in key]
    raw = json.dumps({"o": ordering, "k": key, "b": False}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _lists(
    project: Any, users: dict[str, Any], ids: dict[str, int], repeats: int, only: Any
) -> Any:
    from rest_framework.serializers import ModelSerializer

    from annotator.api.serializers import ImageSerializer

    client = _client(users["owner"])
    url = f"/api/projects/{project.pk}/images/"
    out: dict[str, Any] = {"filters": {}, "worst": (0.0, "")}
    fast_rows = ImageSerializer.to_representation
    chosen = {k: dict(v) for k, v in FILTERS.items() if not only or k == "none" or k in only}
    samples: dict[str, dict[str, list[float]]] = {k: {"first": [], "deep": []} for k in chosen}
    # Sorts outside, filters inside, and the repeats innermost round-robin over the filters:
    # the shared machine's load comes and goes, and each filter then sees the same stretch of
    # it (filters timed one after another drew different loads, and the first one the worst).
    for ordering in SORTS:
        plan = []
        for label, template in chosen.items():
            t = dict(template)
            drf_rows = t.pop("_drf_rows", False)
            params = {k: str(v).format(**ids) for k, v in t.items()}
            query = {**params, "ordering": ordering, "limit": PAGE}
            plan.append((label, drf_rows, query, _deep_cursor(project, params, ordering)))
        for _label, drf_rows, query, _cursor in plan:
            _rows(ImageSerializer, ModelSerializer, fast_rows, drf_rows)
            _timed(client, url, {**query, "cursor": ""})  # warm the pages this sort reads
        for _ in range(repeats):
            for label, drf_rows, query, cursor in plan:
                _rows(ImageSerializer, ModelSerializer, fast_rows, drf_rows)
                samples[label]["first"].append(_timed(client, url, {**query, "cursor": ""}))
                samples[label]["deep"].append(_timed(client, url, {**query, "cursor": cursor}))
        for label, *_ in plan:
            for name in ("first", "deep"):
                p50 = percentile(samples[label][name][-repeats:], 0.5)
                if p50 > out["worst"][0]:
                    out["worst"] = (p50, f"{label}, ordering={ordering}, {name} page")
    for label in chosen:
        out["filters"][label] = {n: _p(samples[label][n]) for n in ("first", "deep")}
    ImageSerializer.to_representation = fast_rows  # type: ignore[method-assign]
    offset_first = [_timed(client, url, {"limit": PAGE}) for _ in range(repeats)]
    offset_deep = [_timed(client, url, {"limit": PAGE, "offset": 99_000}) for _ in range(repeats)]
    out["offset"] = {"first": _p(offset_first), "deep": _p(offset_deep)}
    return out


def _rows(serializer: Any, drf: Any, fast: Any, use_drf: bool) -> None:
    # The "before: DRF rows" filters: the image rows written field by field, as before
    # ImageSerializer wrote them itself.
    serializer.to_representation = drf.to_representation if use_drf else fast


def _p(samples: list[float]) -> dict[str, float]:
    return {"p50": percentile(samples, 0.5), "p99": percentile(samples, 0.99), "n": len(samples)}


def _uploads(project: Any, owner: Any, batch: int, batches: int) -> dict[str, float]:
    from django.test import override_settings

    client = _client(owner)
    url = f"/api/projects/{project.pk}/images/"
    pngs = [synthetic_png(seed) for seed in range(batch * batches)]
    mbytes = sum(len(p) for p in pngs) / 1e6
    started = time.perf_counter()
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=None):
        for b in range(batches):
            files = [(f"up_{b}_{i}.png", pngs[b * batch + i]) for i in range(batch)]
            body, content_type = multipart(files)
            response = client.generic("POST", url, body, content_type=content_type)
            if response.status_code != 201:
                raise RuntimeError(f"upload: {response.status_code} {response.content[:300]!r}")
    seconds = time.perf_counter() - started
    count = batch * batches
    return {"images": count, "batch": batch, "images_s": count / seconds, "mb_s": mbytes / seconds}


# --- The parent: every database and size, then the table -----------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000])
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--repeats", type=int, default=5, help="requests per sort, filter, page")
    parser.add_argument("--upload-batch", type=int, default=10, help="images per POST")
    parser.add_argument("--upload-batches", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="record in bench/RESULTS.md")
    parser.add_argument("--filters", nargs="+", help="only these filters (and none)")
    parser.add_argument("--child", nargs=2, metavar=("DB", "ROWS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = child(args.child[0], int(args.child[1]), args.repeats, args.upload_batch,
                       args.upload_batches, args.filters)  # fmt: skip
        print("RESULT " + json.dumps(result))
        return
    results = []
    for db in args.db:
        if db == "postgres" and not os.environ.get("DATABASE_URL", "").startswith("postgres"):
            print("postgres: skipped, no DATABASE_URL (run under bash tests/services.sh)")
            continue
        for rows in args.rows:
            command = [sys.executable, __file__, "--child", db, str(rows),
                       "--repeats", str(args.repeats), "--upload-batch", str(args.upload_batch),
                       "--upload-batches", str(args.upload_batches),
                       *(["--filters", *args.filters] if args.filters else [])]  # fmt: skip
            out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
            if out.returncode != 0:
                sys.exit(f"{db} {rows}: failed\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
            line = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")][-1]
            results.append(json.loads(line[len("RESULT ") :]))
            print(table([results[-1]]), flush=True)
    text = table(results)
    if args.write:
        ran = " ".join(["bench/dataset.py", *sys.argv[1:]])
        write_results(f"{SECTION}\n\n{HEADER.format(command=ran)}\n{text}\n{CAVEATS}", SECTION)


def table(results: list[dict[str, Any]]) -> str:
    lines = []
    for r in results:
        lines.append(f"\n**{r['vendor']}, {r['rows']:,} images** (rows inserted in "
                     f"{r['insert_s']:.0f} s):\n")  # fmt: skip
        lines.append("| request (keyset, 50 a page, all 8 sorts) | first page p50 / p99 ms | "
                     "page at 90% p50 / p99 ms |")  # fmt: skip
        lines.append("|---|---|---|")
        for name, f in r["filters"].items():
            lines.append(f"| {name} | {f['first']['p50']:.1f} / {f['first']['p99']:.1f} | "
                         f"{f['deep']['p50']:.1f} / {f['deep']['p99']:.1f} |")  # fmt: skip
        o = r["offset"]
        lines.append(f"| reference: ?limit=50&offset= (exact count) | "
                     f"{o['first']['p50']:.1f} / {o['first']['p99']:.1f} | "
                     f"offset 99,000: {o['deep']['p50']:.1f} / {o['deep']['p99']:.1f} |")  # fmt: skip
        worst = r["worst"]
        u = r.get("upload")
        lines.append(f"\nSlowest combination (p50): {worst[0]:.1f} ms, {worst[1]}. Offset "
                     f"first page / keyset first page (no filter): "
                     f"**{o['first']['p50'] / r['filters']['none']['first']['p50']:.1f}x**; "
                     f"offset 99,000 / keyset page at 90%: "
                     f"**{o['deep']['p50'] / r['filters']['none']['deep']['p50']:.1f}x**.")  # fmt: skip
        if u:
            lines[-1] += (f" Upload: {u['images']} images in POSTs of {u['batch']}, "
                          f"{u['images_s']:.1f} images/s ({u['mb_s']:.1f} MB/s).")  # fmt: skip
    return "\n".join(lines)


HEADER = """Every filter of the dataset page under every sort (id, name, status, updated; both
directions), keyset pages of 50 (?cursor=), timed in process through the API view (queries and
serialisation, no socket), after bulk-inserting the rows with SQL and ANALYZE; upload throughput
through the API's POST in the same run:

    bash tests/services.sh .venv/bin/python {command}
"""
CAVEATS = """
Caveats: the shared 2-core machine ran other jobs at the same time, so absolute times are noisy
and the ratios against the offset reference (same process, same rows) carry the result. p99 is
over 8 sorts x the repeats of each, so it is the slowest sort's tail, not one sort's.
"""


if __name__ == "__main__":
    main()
