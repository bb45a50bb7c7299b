"""`manage.py demo`: demo users, a demo project with sample photos, a worker and the web server.

Everything runs on the embedded defaults (SQLite, local media, the folder broker). The SAM
checkpoint comes from the SAM_CHECKPOINT setting; when it cannot be had (an offline machine),
the demo still starts and says in the log, and on the page through each image's embedding
status, which file to put where.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files import File
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from annotator.models import Project, Role
from annotator.services import image_create, membership_set, project_create

logger = logging.getLogger("annotator.demo")

DEMO_DATA = Path(__file__).resolve().parents[2] / "demo_data"
DEMO_PROJECT = "Demo: everyday objects"
DEMO_LABELS = [
    ("cat", "#e6194b"),
    ("cup", "#3cb44b"),
    ("person", "#4363d8"),
    ("rocket", "#f58231"),
    ("background", "#911eb4"),
]
# Demo credentials only: printed on start, never used outside `make demo`.
DEMO_USERS = [
    ("admin", "admin", {"is_staff": True, "is_superuser": True}),
    ("annotator", "annotator", {}),
    ("reviewer", "reviewer", {}),
]


class Command(BaseCommand):
    help = "Create demo data, then run a Celery worker and the web server."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--setup-only", action="store_true", help="create the demo data and exit"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEV:
            # Users named admin, annotator and reviewer with their names as passwords.
            raise CommandError("the demo runs in development mode only: DJANGO_ENV=dev")
        users = self._ensure_users()
        self._ensure_project(users)
        checkpoint_notice = self._check_checkpoint()
        if options["setup_only"]:
            return
        url = f"http://{options['host']}:{options['port']}/"
        self._banner(url, checkpoint_notice)
        worker = self._start_worker()
        atlas_worker = self._start_atlas_worker()
        # `kill` (SIGTERM) must stop the worker too: turn it into an exit that runs `finally`.
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
        try:
            call_command("runserver", f"{options['host']}:{options['port']}", use_reloader=False)
        finally:
            for process in (worker, atlas_worker):
                if process is None:
                    continue
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()

    def _ensure_users(self) -> dict[str, Any]:
        # set_password() does not run AUTH_PASSWORD_VALIDATORS (only forms and
        # `createsuperuser` do), so the demo keeps its memorable passwords.
        User = get_user_model()
        users = {}
        for username, password, flags in DEMO_USERS:
            user, created = User.objects.get_or_create(username=username, defaults=flags)
            if created:
                user.set_password(password)
                user.save()
            users[username] = user
        return users

    def _ensure_project(self, users: dict[str, Any]) -> None:
        if Project.objects.filter(name=DEMO_PROJECT).exists():
            return
        with transaction.atomic():
            project = project_create(
                name=DEMO_PROJECT,
                description="Sample photos from scikit-image (CC0 and public domain).",
                created_by=users["admin"],
                labels=DEMO_LABELS,
            )
            for username, role in (("annotator", Role.ANNOTATOR), ("reviewer", Role.REVIEWER)):
                membership_set(project=project, user=users[username], role=role, by_role=Role.OWNER)
            for path in sorted(DEMO_DATA.glob("*.*")):
                if path.suffix.lower() not in {".png", ".jpg", ".jpeg"}:
                    continue
                with path.open("rb") as handle:
                    image_create(
                        project=project,
                        file=File(handle, name=path.name),
                        uploaded_by=users["admin"],
                    )
        self.stdout.write(f"Created project {DEMO_PROJECT!r} with sample images.")

    def _check_checkpoint(self) -> str | None:
        """Fetch the checkpoint now (with a progress bar) so the first embedding is not slow;
        offline, explain once, loudly, what to do, and carry on."""
        from annotator.sam import CheckpointUnavailable
        from annotator.segmenters import resolve_any  # SAM 1 and SAM 2 names alike

        try:
            path = resolve_any(settings.SAM_CHECKPOINT, download=settings.SAM_ALLOW_DOWNLOAD)
        except CheckpointUnavailable as exc:
            logger.error("SAM checkpoint unavailable: %s", exc)
            return str(exc)
        self.stdout.write(f"SAM checkpoint: {path}")
        return None

    def _start_worker(self) -> subprocess.Popen[bytes]:
        command = [
            sys.executable, "-m", "celery", "-A", "webapp", "worker",
            "-Q", "default,gpu", "--pool=solo", "--loglevel=INFO",
            "--without-gossip", "--without-mingle",
        ]  # fmt: skip
        return subprocess.Popen(command, cwd=settings.BASE_DIR, env=dict(os.environ))

    def _start_atlas_worker(self) -> subprocess.Popen[bytes] | None:
        """A second worker for the hover atlases only, at the lowest CPU priority (nice 19) and
        on one torch thread: its minutes of decoder work per image on a CPU take only the time
        the embeddings, jobs and the page leave over, never theirs."""
        if not settings.SAM_ATLAS_QUEUE:
            return None
        command = [
            sys.executable, "-m", "celery", "-A", "webapp", "worker",
            "-Q", settings.SAM_ATLAS_QUEUE, "--pool=solo", "--loglevel=INFO",
            "--without-gossip", "--without-mingle", "--hostname", "atlas@%h",
        ]  # fmt: skip
        return subprocess.Popen(
            command,
            cwd=settings.BASE_DIR,
            env={**os.environ, "SAM_ATLAS_THREADS": str(settings.SAM_ATLAS_THREADS or 1)},
            preexec_fn=lambda: os.nice(19),  # noqa: PLW1509 - only nice(), no locks taken
        )

    def _banner(self, url: str, checkpoint_notice: str | None) -> None:
        lines = [
            "",
            f"  SAM Annotator demo: {url}",
            "  Log in as admin / admin (or annotator / annotator, reviewer / reviewer).",
            f"  SAM checkpoint setting: SAM_CHECKPOINT={settings.SAM_CHECKPOINT}",
        ]
        if checkpoint_notice:
            lines += ["", "  !! The SAM checkpoint is not available, so no embeddings yet:"]
            lines += [f"  !! {line}" for line in checkpoint_notice.splitlines()]
        self.stdout.write("\n".join(lines) + "\n")
