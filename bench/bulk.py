"""The dataset page's bulk actions on a filter at scale: one POST images/bulk over --rows
images (assign round-robin over three people, recompute embeddings, delete), against the
page's former way of doing the same, one PATCH per image, measured in the same run on
--reference images and compared per image.

    .venv/bin/python bench/bulk.py --rows 100000

SQLite in a temp folder; the rows are inserted with SQL as bench/dataset.py does (no files:
an assign or recompute never opens them, and a delete's file removal happens after the commit
and is not timed). The broker is replaced by a counter: what is timed is the request.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run by path: find bench.common


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--reference", type=int, default=200, help="images PATCHed one by one")
    args = parser.parse_args()
    os.environ.update(DJANGO_ENV="dev", SAM_VAR_DIR=tempfile.mkdtemp(prefix="bench-bulk-"))
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from annotator import queue
    from bench import dataset

    sent: list[Any] = []
    queue.publish = lambda name, task_args, **options: sent.append(task_args)  # type: ignore[assignment]
    call_command("migrate", verbosity=0)
    project, users = dataset._project()
    dataset._insert(project, users, args.rows)
    client = dataset._client(users["owner"])
    people = [u.pk for u in users["annotators"]][:3]
    url = f"/api/projects/{project.pk}/images/bulk"

    def bulk(body: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        started = time.perf_counter()
        answer = client.post(url, body, content_type="application/json")
        assert answer.status_code in (200, 202), answer.content[:300]
        return time.perf_counter() - started, answer.json()

    ids = list(project.images.order_by("id").values_list("id", flat=True)[: args.reference])
    started = time.perf_counter()
    for k, pk in enumerate(ids):
        answer = client.patch(f"/api/images/{pk}/", {"assignee": people[k % 3]},
                              content_type="application/json")  # fmt: skip
        assert answer.status_code == 200, answer.content[:300]
    per_patch = (time.perf_counter() - started) / len(ids)
    rows = []
    for name, body in (
        ("assign round-robin (3 people)", {"action": "assign", "filters": {}, "assignees": people}),
        ("recompute embeddings", {"action": "recompute", "filters": {}}),
        ("delete (status=rejected)", {"action": "delete", "filters": {"status": "rejected"}}),
    ):
        seconds, out = bulk(body)
        per_image = seconds / max(1, out["matched"])
        rows.append(f"| {name} | {out['matched']:,} | {seconds:.1f} | {per_image * 1000:.3f} | "
                    f"{per_patch / per_image:.0f}x |")  # fmt: skip
    print(f"SQLite, {args.rows:,} images; reference: one PATCH per image, "
          f"{per_patch * 1000:.1f} ms an image over {len(ids)} images "
          f"({per_patch * args.rows / 60:.0f} min for {args.rows:,}); broker messages sent: "
          f"{len(sent):,}\n")  # fmt: skip
    print(
        "| action (one POST images/bulk) | images | seconds | ms an image | PATCH one by one / bulk |"
    )
    print("|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
