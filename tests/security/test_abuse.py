"""Requests that are harmless once and harmful by the thousand: password guessing on the login
forms, weak passwords, and an anonymous /healthz?worker=1 that sent a task on every call.

The counters live in the cache (files under var/ by default), which every web process shares:
one test here counts failures in another process and sees them refused here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client

from tests import factories
from tests.conftest import REPO_ROOT

LOGINS = ["/accounts/login/", "/admin/login/"]


@pytest.fixture
def person(settings: Any) -> Any:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return factories.user("victim", is_staff=True)


def _login(client: Client, path: str, username: str, password: str) -> Any:
    return client.post(path, {"username": username, "password": password})


def _logged_in(response: Any) -> bool:
    return response.status_code == 302


# --- Login throttling -------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path", LOGINS)
def test_failed_logins_past_the_limit_answer_429_even_with_the_right_password(
    person: Any, path: str
) -> None:
    client = Client()
    for _ in range(settings.LOGIN_THROTTLE_FAILURES):
        assert _login(client, path, "victim", "guess").status_code == 200
    refused = _login(client, path, "victim", "pw-victim")
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= settings.LOGIN_THROTTLE_SECONDS
    assert b"Too many failed logins" in refused.content
    # The limit is per username and address: the same person elsewhere, and another account
    # here, are not held back.
    assert _logged_in(_login(Client(REMOTE_ADDR="10.1.2.3"), path, "victim", "pw-victim"))
    factories.user("colleague", is_staff=True)
    assert _logged_in(_login(client, path, "colleague", "pw-colleague"))
    # Both login forms count together (one account, one guesser), in any letter case.
    other = LOGINS[1 - LOGINS.index(path)]
    assert _login(client, other, "VICTIM", "pw-victim").status_code == 429


@pytest.mark.django_db
def test_the_window_ends_and_a_success_resets_the_count(person: Any, settings: Any) -> None:
    settings.LOGIN_THROTTLE_FAILURES = 3
    client = Client()
    for _ in range(2):
        _login(client, LOGINS[0], "victim", "guess")
    assert _logged_in(_login(client, LOGINS[0], "victim", "pw-victim"))
    client.logout()
    for _ in range(2):  # two more: under the limit again, since the success reset the count
        assert _login(client, LOGINS[0], "victim", "guess").status_code == 200
    assert _logged_in(_login(client, LOGINS[0], "victim", "pw-victim"))
    client.logout()
    settings.LOGIN_THROTTLE_SECONDS = 1
    for _ in range(3):
        _login(client, LOGINS[0], "victim", "guess")
    assert _login(client, LOGINS[0], "victim", "pw-victim").status_code == 429
    time.sleep(1.1)
    assert _logged_in(_login(client, LOGINS[0], "victim", "pw-victim"))


@pytest.mark.django_db
def test_failures_counted_in_another_process_are_refused_here(person: Any) -> None:
    """The cache must be one all web processes share (Django's default, memory, is not)."""
    assert settings.CACHES["default"]["BACKEND"].endswith(("FileBasedCache", "RedisCache"))
    code = (
        "from django.test import RequestFactory; from webapp.throttle import record_failure; "
        "request = RequestFactory().post('/accounts/login/', REMOTE_ADDR='127.0.0.1'); "
        f"[record_failure(request, 'victim') for _ in range({settings.LOGIN_THROTTLE_FAILURES})]"
    )
    other = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert other.returncode == 0, other.stderr
    assert _login(Client(), LOGINS[0], "victim", "pw-victim").status_code == 429


@pytest.mark.django_db
def test_with_the_cache_down_logins_and_health_checks_still_answer(
    person: Any, settings: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A Redis cache that is down turns throttling off (logged) rather than every login, or
    the load balancer's health check, into a 500."""
    from annotator import health

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}}  # fmt: skip
    client = Client()
    for _ in range(settings.LOGIN_THROTTLE_FAILURES + 1):
        assert _login(client, LOGINS[0], "victim", "guess").status_code == 200
    assert _logged_in(_login(client, LOGINS[0], "victim", "pw-victim"))
    monkeypatch.setattr(health, "WORKER_TIMEOUT_SECONDS", 0.3)
    response = client.get("/healthz?worker=1")
    assert response.status_code in (200, 503)
    assert set(response.json()["worker"]) <= {"status", "detail"}
    assert "login throttling is off" in caplog.text
    assert "sends its task uncached" in caplog.text


# --- Password rules ------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("password", "says"),
    [("password123", "too common"), ("84736251904", "entirely numeric"), ("short1", "too short")],
)
def test_a_weak_new_password_is_refused(person: Any, password: str, says: str) -> None:
    client = Client()
    client.force_login(person)
    response = client.post(
        "/accounts/password_change/",
        {"old_password": "pw-victim", "new_password1": password, "new_password2": password},
    )
    assert response.status_code == 200  # the form again, with the reason
    assert says in response.content.decode()
    person.refresh_from_db()
    assert person.check_password("pw-victim")


@pytest.mark.django_db
def test_the_demo_users_keep_their_demo_passwords(person: Any) -> None:
    """The demo creates admin/admin and friends with set_password(), which the validators do
    not govern (only forms and createsuperuser do): the demo's banner stays true."""
    from annotator.management.commands.demo import DEMO_USERS, Command

    Command()._ensure_users()
    for username, password, _ in DEMO_USERS:
        assert get_user_model().objects.get(username=username).check_password(password)
    with pytest.raises(ValidationError, match="too common|too similar|too short"):
        validate_password("admin")


def test_the_demo_refuses_to_run_in_production_mode(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(SAM_VAR_DIR=str(tmp_path / "var"), DJANGO_SECRET_KEY="s" + "abcdefghij0123456789" * 3)  # fmt: skip
    result = subprocess.run(
        [sys.executable, "manage.py", "demo", "--setup-only"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode != 0
    assert "DJANGO_ENV=dev" in result.stderr


# --- /healthz?worker=1 -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_worker_check_sends_one_task_however_often_it_is_called(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from annotator import health, queue
    from annotator.services import health as health_service

    # Each call still sends for real; this only counts the sends.
    sent: list[int] = []
    real = queue.publish
    monkeypatch.setattr(queue, "publish", lambda *a, **k: sent.append(1) or real(*a, **k))
    monkeypatch.setattr(health, "WORKER_TIMEOUT_SECONDS", 0.3)
    client = Client()
    answers = [client.get("/healthz?worker=1") for _ in range(20)]
    assert len(sent) == 1
    first = answers[0]
    assert all((a.status_code, a.json()) == (first.status_code, first.json()) for a in answers)
    # Whatever the worker answered (none consumes the queue here, unless the session's worker
    # is up), the answer says whether, never which host or process.
    assert set(first.json()["worker"]) <= {"status", "detail"}
    # A failure is kept briefly, so a worker that comes back is seen within seconds.
    assert health_service.WORKER_FAILURE_CACHE_SECONDS <= settings.HEALTH_WORKER_CACHE_SECONDS


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_worker_check_names_no_host_or_process(celery_worker: Any) -> None:
    response = Client().get("/healthz?worker=1")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok", "worker": {"status": "ok"}}  # fmt: skip
