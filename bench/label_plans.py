"""Plans for the dataset list's label filter at scale, the list query alone (no view): the
EXISTS per row along the sort's index that selectors.image_list uses, against taking the
label's image ids first from the (label, image) index (a probe of up to 16,385 of them) and
then either sorting them (`id IN (list)`), walking the sort's index testing the list
(SQLite's unary + keeps the IN from driving), or a subquery (`id IN (SELECT ...)`).

    .venv/bin/python bench/label_plans.py --rows 1000000                      # SQLite
    bash tests/services.sh .venv/bin/python bench/label_plans.py --rows 1000000 --db postgres

Rows are inserted as bench/dataset.py does (a label on 1% of the images, one on 30%); each
plan's first page of 51 rows, median of 5, in ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run by path: find bench.common


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    os.environ.update(DJANGO_ENV="dev", SAM_VAR_DIR=tempfile.mkdtemp(prefix="bench-labels-"))
    if args.db == "sqlite":
        os.environ.pop("DATABASE_URL", None)
    else:
        from bench.dataset import _fresh_pg_database

        os.environ["DATABASE_URL"] = _fresh_pg_database(os.environ["DATABASE_URL"], args.rows)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.db.models import Exists, F, OuterRef, Subquery

    from annotator import selectors
    from annotator.models import Annotation
    from bench import dataset

    call_command("migrate", verbosity=0)
    project, users = dataset._project()
    ids = dataset._insert(project, users, args.rows)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"{connection.vendor}, {args.rows:,} images; first page (51 rows), median of 5, ms\n")
    serial = connection.vendor == "postgresql"
    print("| label | sort | probe | EXISTS walk | id IN (list), sorted | +id IN (list), walk "
          "| id IN (subquery) |" + (" EXISTS walk, no parallel workers |" if serial else ""))  # fmt: skip
    print("|---|---|---|---|---|---|---|" + ("---|" if serial else ""))
    for name in ("rare", "common"):
        label = ids[name]
        tagged = Annotation.objects.filter(label_id=label).order_by()
        started = time.perf_counter()
        listed = list(tagged.values_list("image_id", flat=True).distinct()[:16385])
        probe = (time.perf_counter() - started) * 1000
        for ordering in ("id", "-updated", "name", "status"):
            base = selectors.image_list(project=project, filters={}, ordering=ordering)
            plans = [
                base.filter(Exists(tagged.filter(image_id=OuterRef("pk")))),
                base.filter(id__in=listed),
                base.alias(uid=selectors.Unindexed(F("id"))).filter(uid__in=listed),
                base.filter(id__in=Subquery(tagged.values("image_id"))),
            ]
            cells = []
            for qs in plans:
                times = []
                for _ in range(5):
                    started = time.perf_counter()
                    list(qs[:51])
                    times.append((time.perf_counter() - started) * 1000)
                cells.append(f"{statistics.median(times):.1f}")
            if serial:
                # PostgreSQL's parallel Gather Merge: what its worker start-up costs here.
                times = []
                for _ in range(5):
                    with transaction.atomic(), connection.cursor() as cursor:
                        cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
                        started = time.perf_counter()
                        list(plans[0][:51])
                        times.append((time.perf_counter() - started) * 1000)
                cells.append(f"{statistics.median(times):.1f}")
            print(f"| {name} ({len(listed):,} images) | {ordering} | {probe:.1f} | "
                  + " | ".join(cells) + " |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
