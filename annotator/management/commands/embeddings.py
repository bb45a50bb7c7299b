"""`manage.py embeddings`: sweep pending embeddings into the queue, or compute them here."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotator import queue, services
from annotator.models import Embedding, Image, SamModel


class Command(BaseCommand):
    help = (
        "Enqueue every pending embedding for the `gpu` workers (after a restart, or uploads made "
        "while no worker ran). --sync computes them in this process instead (loads the model); "
        "--missing first creates rows for images that have none; --retry-failed resets failed ones. "
        "--atlas: hover atlases instead, for ready embeddings without one (--force-atlas: all), "
        "enqueued on the atlas queue (SAM_ATLAS_QUEUE) or, with --sync, computed here. "
        "--decoder-gzip: the gzip twins of decoders exported before them, likewise."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--sync", action="store_true", help="compute here, not in a worker")
        parser.add_argument("--limit", type=int, default=None, help="at most this many")
        parser.add_argument("--missing", action="store_true", help="request missing embeddings")
        parser.add_argument("--retry-failed", action="store_true", help="reset failed ones")
        parser.add_argument("--atlas", action="store_true", help="compute missing hover atlases")
        parser.add_argument("--force-atlas", action="store_true", help="recompute every atlas")
        parser.add_argument(
            "--decoder-gzip",
            action="store_true",
            help="write the gzip twins of decoders exported before they existed",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["decoder_gzip"]:
            return self.decoder_gzip(sync=options["sync"])
        if options["atlas"] or options["force_atlas"]:
            return self.atlases(
                force=options["force_atlas"], sync=options["sync"], limit=options["limit"]
            )
        if options["missing"]:
            images = Image.objects.exclude(embeddings__isnull=False).select_related("project")
            services.embedding_request(images=list(images))
        if options["retry_failed"]:
            failed = Embedding.objects.filter(status=Embedding.Status.FAILED)
            failed.update(status=Embedding.Status.PENDING, attempts=0, error="")
        count = services.embedding_compute_pending(limit=options["limit"], sync=options["sync"])
        verb = "Computed" if options["sync"] else "Enqueued"
        self.stdout.write(f"{verb} {count} pending embedding(s).")
        if options["sync"]:
            failed = Embedding.objects.filter(status=Embedding.Status.FAILED).count()
            if failed:
                self.stderr.write(f"{failed} embedding(s) have failed; see the admin for why.")

    def atlases(self, *, force: bool, sync: bool, limit: int | None) -> None:
        rows = Embedding.objects.filter(status=Embedding.Status.READY).order_by("id")
        if not force:
            rows = rows.filter(atlas="")
        ids = list(rows.values_list("id", flat=True)[:limit])
        if sync:
            outcome = services.atlas_compute(embedding_ids=ids, force=force)
            self.stdout.write(f"Computed {len(outcome['ready'])} hover atlas(es).")
            if outcome["failed"]:
                self.stderr.write(f"{len(outcome['failed'])} failed; see atlas_error in the admin.")
            return
        if not services.atlas_enqueue(embedding_ids=ids, force=force):
            raise CommandError("The task queue (Celery broker) is unavailable; try again later.")
        self.stdout.write(f"Enqueued {len(ids)} hover atlas(es).")

    def decoder_gzip(self, *, sync: bool) -> None:
        shas = [
            sha
            for sha in SamModel.objects.exclude(sha256="").values_list("sha256", flat=True)
            if services.decoder_published(sha256=sha)
        ]
        if sync:
            written = sum(services.decoder_gzip(sha256=sha) for sha in shas)
            self.stdout.write(f"Wrote {written} decoder gzip twin(s).")
            return
        for sha in shas:
            if not queue.send(queue.DECODER_GZIP, [sha], queue=settings.SAM_ATLAS_QUEUE or "atlas"):
                raise CommandError(
                    "The task queue (Celery broker) is unavailable; try again later."
                )
        self.stdout.write(f"Enqueued the decoder gzip twins of {len(shas)} model(s).")
