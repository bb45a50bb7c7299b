"""Error pages: DEBUG is off unless a developer turns it on, every error under /api/ is JSON
whatever DEBUG says, and Django's debug page, when a developer does turn it on, masks the
passwords that hide in URLs (DATABASE_URL, CELERY_BROKER_URL, ...).

The hostile requests are the ones that fail before DRF sees them: a Host header the server
does not serve (DisallowedHost), a URL no route matches, a method a view refuses, a body over
Django's limits, an unhandled exception.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from tests import factories
from tests.conftest import REPO_ROOT

BROKER = "redis://:broker-pw-1@redis.internal:6379/0"
RESULTS = "redis://celery:results-pw-2@redis.internal:6379/1"
DATABASE = "postgres://sam:db-pw-3@db.internal:5432/sam"
S3_SECRET = "s3-secret-4"
PRESIGNED = "https://s3.example.org/b/x?X-Amz-Credential=cred-5&X-Amz-Signature=sig-6"
SECRETS = ("broker-pw-1", "results-pw-2", "db-pw-3", S3_SECRET, "cred-5", "sig-6")


@pytest.fixture(params=[False, True], ids=["debug-off", "debug-on"])
def debug(request: pytest.FixtureRequest, settings: Any) -> bool:
    settings.DEBUG = request.param
    return bool(request.param)


@pytest.fixture
def client() -> Client:
    # The server's answer to an unhandled exception, not the test client's re-raise.
    return Client(raise_request_exception=False)


def _json(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json", response.content[:300]
    body = response.json()
    assert isinstance(body.get("detail"), str) and body["detail"], body
    return body


# --- /api/: JSON, with DEBUG off and on -------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.urls("tests.security.error_urls")
@pytest.mark.parametrize(
    ("method", "path", "headers", "status", "says"),
    [
        ("GET", "/api/nonexistent", {}, 404, "No API endpoint at /api/nonexistent"),
        ("POST", "/api/projects/1/nowhere/", {}, 404, "No API endpoint"),
        ("GET", "/api/projects/", {"host": "evil.example"}, 400, "Host header"),
        ("POST", "/api/projects/", {"host": "evil.example:8000"}, 400, "Host header"),
        ("DELETE", "/api/docs/", {}, 405, "not allowed"),
        ("GET", "/api/fail", {}, 500, "Internal server error"),
    ],
)
def test_api_errors_raised_outside_drf_are_json(
    client: Client, debug: bool, method: str, path: str, headers: dict, status: int, says: str
) -> None:
    body = _json(client.generic(method, path, headers=headers), status)
    assert says in body["detail"]
    assert "evil.example" not in body["detail"] and "broker" not in body["detail"]


@pytest.mark.django_db
def test_api_bodies_over_djangos_limits_are_json(settings: Any, debug: bool) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
    client = Client(raise_request_exception=False)
    client.force_login(factories.user())
    big = json.dumps({"name": "x" * 4096})
    body = _json(client.post("/api/projects/", big, content_type="application/json"), 413)
    assert "too large" in body["detail"]
    fields = {f"f{i}": "x" for i in range(10)}
    body = _json(client.post("/api/projects/", fields), 400)
    assert "too many parts" in body["detail"]


@pytest.mark.django_db
@pytest.mark.urls("tests.security.error_urls")
def test_pages_outside_the_api_show_no_debug_page_by_default(client: Client) -> None:
    from django.conf import settings

    assert settings.DEBUG is False
    for path, headers, status in [
        ("/fail", {}, 500),
        ("/nowhere/", {}, 404),
        ("/status/", {"host": "evil.example"}, 400),
    ]:
        response = client.get(path, headers=headers)
        assert response.status_code == status
        text = response.content.decode()
        for leak in ("Traceback", "settings", "DEBUG = True", "URLconf", "broker", "evil"):
            assert leak not in text, (path, text[:300])


# --- DEBUG on: the technical page masks URL passwords -----------------------------------------


@pytest.mark.django_db
@pytest.mark.urls("tests.security.error_urls")
@pytest.mark.parametrize("accept", ["text/html", "text/plain"])
def test_the_debug_page_masks_passwords_in_urls(client: Client, settings: Any, accept: str) -> None:
    settings.DEBUG = True
    settings.CELERY_BROKER_URL = BROKER
    settings.CELERY_RESULT_BACKEND = RESULTS
    settings.EXTRA_STORAGE = {"OPTIONS": {"secret_key": S3_SECRET, "endpoint_url": PRESIGNED}}
    # runserver copies the process environment into request.META: the same variables here.
    environ = {"DATABASE_URL": DATABASE, "CELERY_BROKER_URL": BROKER, "S3_SECRET_ACCESS_KEY": S3_SECRET, "MEDIA_URL_SIGNED": PRESIGNED}  # fmt: skip
    response = client.get("/fail", headers={"accept": accept}, **environ)
    assert response.status_code == 500
    text = response.content.decode()
    # It is the debug page (with the settings, the environment, the frame's variables) ...
    assert "RuntimeError" in text and "DATABASE_URL" in text and "CELERY_RESULT_BACKEND" in text
    # ... and every secret in it is masked, the user names and hosts left to debug with.
    for secret in SECRETS:
        assert secret not in text, secret
    assert "redis://:********************@redis.internal:6379/0" in text
    assert "postgres://sam:********************@db.internal:5432/sam" in text
    assert "X-Amz-Signature=********************" in text


def test_the_mask_keeps_urls_without_credentials() -> None:
    from webapp.debug import mask_url_secrets

    for plain in ("filesystem://", "https://example.org/a?b=c", "sqlite:////var/db.sqlite3"):
        assert mask_url_secrets(plain) == plain
    assert mask_url_secrets(f"'{RESULTS}'") == "'redis://celery:********************@redis.internal:6379/1'"  # fmt: skip


# --- Settings: the defaults, in a fresh process ---------------------------------------------------


def _settings_of(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    code = "import json; from django.conf import settings as s; print(json.dumps([s.DEBUG, s.DEV]))"
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def _clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_"))}
    env.update(SAM_VAR_DIR=str(tmp_path / "var"), **extra)
    return env


def test_debug_is_off_by_default_and_on_only_in_dev_mode(tmp_path: Path) -> None:
    key = "k" + "0123456789abcdefghij" * 3
    production = _settings_of(_clean_env(tmp_path, DJANGO_SECRET_KEY=key))
    assert json.loads(production.stdout.splitlines()[-1]) == [False, False], production.stderr
    dev = _settings_of(_clean_env(tmp_path, DJANGO_ENV="dev"))
    assert json.loads(dev.stdout.splitlines()[-1]) == [False, True], dev.stderr
    asked = _settings_of(_clean_env(tmp_path, DJANGO_ENV="dev", DJANGO_DEBUG="true"))
    assert json.loads(asked.stdout.splitlines()[-1]) == [True, True], asked.stderr
    refused = _settings_of(_clean_env(tmp_path, DJANGO_SECRET_KEY=key, DJANGO_DEBUG="true"))
    assert refused.returncode != 0 and "for development only" in refused.stderr
    unknown = _settings_of(_clean_env(tmp_path, DJANGO_ENV="staging"))
    assert unknown.returncode != 0 and "is not production or dev" in unknown.stderr


# --- A real server: what a browser or curl gets from the demo's settings ------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def runserver(tmp_path: Path) -> Iterator[Any]:
    """`manage.py runserver` as the demo runs it (dev mode), with secrets in its environment."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(**extra: str) -> str:
        port = _free_port()
        env = _clean_env(
            tmp_path, DJANGO_ENV="dev", CELERY_RESULT_BACKEND=RESULTS, UPSTREAM_URL=DATABASE,
            S3_SECRET_ACCESS_KEY=S3_SECRET, **extra,
        )  # fmt: skip
        log = (tmp_path / f"server-{port}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / f"server-{port}.log").read_text()
            try:
                urllib.request.urlopen(f"{url}/healthz", timeout=2).close()
                return url
            except urllib.error.HTTPError:
                return url
            except OSError:
                time.sleep(0.3)
        raise AssertionError("runserver did not answer")

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=20)


def _get(url: str, host: str | None = None) -> tuple[int, str, str]:
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


@pytest.mark.slow
def test_a_dev_server_leaks_nothing_on_its_error_pages(runserver: Any) -> None:
    """A bad Host header makes Django render its full debug page when DEBUG is on (settings,
    and the process environment, which runserver hands over as request.META)."""
    plain = runserver()
    status, content_type, text = _get(f"{plain}/status/", host="evil.example")
    assert status == 400 and "Traceback" not in text and "UPSTREAM_URL" not in text
    status, content_type, text = _get(f"{plain}/api/nonexistent")
    assert (status, content_type) == (404, "application/json"), text
    status, content_type, text = _get(f"{plain}/api/projects/", host="evil.example")
    assert (status, content_type) == (400, "application/json"), text

    debugging = runserver(DJANGO_DEBUG="true")
    status, content_type, text = _get(f"{debugging}/status/", host="evil.example")
    assert status == 400 and "DisallowedHost" in text and "UPSTREAM_URL" in text
    for secret in SECRETS[:3] + (S3_SECRET,):
        assert secret not in text, secret
    status, content_type, text = _get(f"{debugging}/api/projects/", host="evil.example")
    assert (status, content_type) == (400, "application/json"), text
    assert json.loads(text) == {"detail": "The Host header names a host this server does not serve."}  # fmt: skip
