"""The web process never imports torch: only workers and CLIs load the model."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO_ROOT

PROBE = """
import sys, django
django.setup()
from django.urls import get_resolver
get_resolver().url_patterns  # imports every view module the URLconf names
from django.contrib import admin
admin.autodiscover()
import annotator.tasks
heavy = sorted(m for m in ("torch", "torchvision") if m in sys.modules)
print(",".join(heavy))
"""


def test_loading_every_url_and_admin_module_does_not_import_torch() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "webapp.settings"},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"the web process imported {result.stdout.strip()}"
