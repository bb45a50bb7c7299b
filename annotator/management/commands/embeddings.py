"""`manage.py embeddings`: sweep pending embeddings into the queue, or compute them here."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from annotator import services
from annotator.models import Embedding, Image


class Command(BaseCommand):
    help = (
        "Enqueue every pending embedding for the `gpu` workers (after a restart, or uploads made "
        "while no worker ran). --sync computes them in this process instead (loads the model); "
        "--missing first creates rows for images that have none; --retry-failed resets failed ones."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--sync", action="store_true", help="compute here, not in a worker")
        parser.add_argument("--limit", type=int, default=None, help="at most this many")
        parser.add_argument("--missing", action="store_true", help="request missing embeddings")
        parser.add_argument("--retry-failed", action="store_true", help="reset failed ones")

    def handle(self, *args: Any, **options: Any) -> None:
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
