"""Production settings: Django's deployment checklist passes under the environment README's
Production section describes, and a bad security value stops the process at start.

Settings are read once per process, so each case is a fresh `manage.py` in a subprocess.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

HOST = "annotate.example.org"


def _production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    env.update(
        SAM_VAR_DIR=str(tmp_path / "var"),
        # Nothing says production or DEBUG off: both are the defaults.
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS=HOST,
        DJANGO_CSRF_TRUSTED_ORIGINS=f"https://{HOST}",
    )
    env.update(extra)
    return env


def _manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`manage.py` in a fresh process (the shell prints a banner line before the -c output)."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_passes_with_the_production_environment(tmp_path: Path) -> None:
    result = _manage(_production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


SETTINGS_JSON = (
    "import json; from django.conf import settings as s; print(json.dumps({k: getattr(s, k, None) "
    "for k in ['DEBUG', 'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', 'SECURE_SSL_REDIRECT', "
    "'SECURE_HSTS_SECONDS', 'SECURE_HSTS_INCLUDE_SUBDOMAINS', 'SECURE_HSTS_PRELOAD', "
    "'SECURE_PROXY_SSL_HEADER', 'SESSION_COOKIE_HTTPONLY', 'CSRF_COOKIE_HTTPONLY', "
    "'ALLOWED_HOSTS', 'SECURE_REDIRECT_EXEMPT']}))"
)


def test_production_defaults_and_knobs(tmp_path: Path) -> None:
    defaults = _manage(_production_env(tmp_path), "shell", "-c", SETTINGS_JSON)
    assert defaults.returncode == 0, defaults.stderr
    assert json.loads(defaults.stdout.splitlines()[-1]) == {
        "DEBUG": False,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": True,
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "SESSION_COOKIE_HTTPONLY": True,
        "CSRF_COOKIE_HTTPONLY": False,
        "ALLOWED_HOSTS": [HOST],
        "SECURE_REDIRECT_EXEMPT": ["^healthz$"],
    }
    knobs = _production_env(
        tmp_path,
        DJANGO_SECURE_HSTS_SECONDS="3600",
        DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS="false",
        DJANGO_SECURE_HSTS_PRELOAD="false",
        DJANGO_SECURE_PROXY_SSL_HEADER="false",
    )
    turned = _manage(knobs, "shell", "-c", SETTINGS_JSON)
    assert turned.returncode == 0, turned.stderr
    values = json.loads(turned.stdout.splitlines()[-1])
    assert values["SECURE_HSTS_SECONDS"] == 3600
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is False
    assert values["SECURE_HSTS_PRELOAD"] is False
    assert values["SECURE_PROXY_SSL_HEADER"] is None


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DJANGO_SECRET_KEY", "", "DJANGO_SECRET_KEY must be set"),
        ("DJANGO_SECRET_KEY", "too-short", "at least 50 random characters"),
        ("DJANGO_SECRET_KEY", "django-insecure-" + "x1y2z3" * 10, "at least 50 random"),
        ("DJANGO_SECRET_KEY", "ab" * 40, "at least 50 random characters"),
        ("DJANGO_SECURE_HSTS_SECONDS", "a year", "is not an integer"),
        ("DJANGO_SECURE_COOKIES", "maybe", "is not a boolean"),
        ("DJANGO_SECURE_PROXY_SSL_HEADER", "sometimes", "is not a boolean"),
        ("DJANGO_DEBUG", "true", "DJANGO_DEBUG=true is for development only"),
        ("DJANGO_ENV", "prod", "is not production or dev"),
        ("CACHE_URL", "memcached://cache:11211", "is not a file:// or redis:// URL"),
    ],
)
def test_a_bad_production_value_stops_the_start(
    tmp_path: Path, variable: str, value: str, message: str
) -> None:
    result = _manage(_production_env(tmp_path, **{variable: value}), "check")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr
