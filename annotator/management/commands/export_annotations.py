"""`manage.py export_annotations`: the file an export Job writes, without a worker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotator import services
from annotator.models import Project


class Command(BaseCommand):
    help = (
        "Write a project's annotations as the REST export job would (COCO JSON, a YOLO-seg zip "
        "or a PNG mask zip) and print the file's path."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="the project's id or name")
        parser.add_argument("--format", required=True, help=", ".join(services.EXPORT_WRITERS))
        parser.add_argument("--out", default=None, help="default: the job's file name, here")
        parser.add_argument("--rle", action="store_true", help="COCO segmentations as RLE")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["format"] not in services.EXPORT_WRITERS:
            raise CommandError(
                f"Unknown format {options['format']!r}; one of {', '.join(services.EXPORT_WRITERS)}."
            )
        project = _project(options["project"])
        params = {"format": options["format"], "rle": options["rle"]}
        try:
            name, content = services.dataset_export(project=project, params=params)
        except services.ServiceError as exc:
            raise CommandError(str(exc)) from None
        out = Path(options["out"] or name)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(content)
        self.stdout.write(str(out))


def _project(key: str) -> Project:
    found = list(Project.objects.filter(pk=int(key)) if key.isdigit() else [])
    found = found or list(Project.objects.filter(name=key))
    if not found:
        raise CommandError(f"No project with id or name {key!r}.")
    if len(found) > 1:
        ids = ", ".join(str(p.pk) for p in found)
        raise CommandError(f"Several projects are named {key!r} (ids {ids}); give the id.")
    return found[0]
