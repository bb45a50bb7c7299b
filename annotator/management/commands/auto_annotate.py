"""`manage.py auto_annotate`: `python -m annotator.autoannotate`, from the project's manage.py."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotator.autoannotate.__main__ import DESCRIPTION, add_arguments, run


class Command(BaseCommand):
    help = DESCRIPTION

    def add_arguments(self, parser: CommandParser) -> None:
        add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        # Django's options also carry verbosity, settings, ...; run() reads only its own.
        if run(argparse.Namespace(**options)) != 0:
            raise CommandError("auto-annotation failed (see the message above)")
