"""CSRF: a write carried by the session cookie needs the CSRF token; a write carried by an API
token does not (a browser never attaches one on its own, so there is nothing to forge).

The routes and the answers come from the permission table: every unsafe method of every route
(API, pages, account and admin forms) is refused without the token, and with it answers what
the table says.
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client
from rest_framework.authtoken.models import Token

from tests.security.permission_table import LOGIN
from tests.security.test_permission_matrix import (
    EXPECTED,
    ROUTES,
    World,
    describe,
    make_world,
    matches,
    send,
    url_for,
)

UNSAFE = ("POST", "PUT", "PATCH", "DELETE")


@pytest.fixture
def world(settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    return make_world(settings, tmp_path, monkeypatch)


def test_the_api_authenticates_by_session_and_token_only() -> None:
    """The CSRF story below covers these two; a new scheme (basic auth, JWT in a cookie) must
    come with its own answer to "can another site make the browser send it?"."""
    assert settings.REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"] == [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ]
    assert "django.middleware.csrf.CsrfViewMiddleware" in settings.MIDDLEWARE
    # The page reads the token from the cookie (frontend/src/ui/api.js).
    assert not getattr(settings, "CSRF_COOKIE_HTTPONLY", False)


def _refused_for_csrf(response: Any, expected: int | str) -> bool:
    """403, and for want of the token: the body says so, or (where the view renders errors as
    HTML without the reason) the same request with the token is not refused."""
    if response.status_code != 403:
        return False
    return b"CSRF" in getattr(response, "content", b"") or expected != 403


@pytest.mark.django_db
@pytest.mark.parametrize("caller", ["owner", "anon"])
def test_session_writes_need_the_csrf_token(world: World, caller: str) -> None:
    refs = world.refs_for(caller)
    secret = _get_new_csrf_string()
    failures = []
    tried = 0
    for (route, method), row in sorted(EXPECTED.items()):
        expected = getattr(row, caller)
        if method not in UNSAFE or route not in ROUTES:
            continue
        if caller == "anon" and (route.startswith("api/") or expected == LOGIN):
            # Without a session there is nothing to forge: the API refuses anonymous callers
            # anyway, and login-only pages send them to log in.
            continue
        url = url_for(route, refs)
        client = Client(enforce_csrf_checks=True)
        client.cookies = SimpleCookie(world.sessions.get(caller, {}))
        # None, a token that is not the cookie's, the right one sent from another site's page,
        # and the right one.
        attempts: dict[str, dict[str, str] | None] = {
            "no": None,
            "a wrong": {"X-CSRFToken": _get_new_csrf_string()},
            "a cross-site": {"X-CSRFToken": secret, "Origin": "http://evil.example"},
            "the": {"X-CSRFToken": secret},
        }
        answers = {}
        for name, headers in attempts.items():
            if headers is not None:
                client.cookies[settings.CSRF_COOKIE_NAME] = secret
            body = row.body(refs) if row.body and row.method == method else None
            answers[name] = send(client, method, url, body, headers=headers)
        tried += 1
        for name in ("no", "a wrong", "a cross-site"):
            if not _refused_for_csrf(answers[name], expected):
                failures.append(f"{method} {url} with {name} token: {describe(answers[name])}")
        if not matches(expected, answers["the"]):
            failures.append(
                f"{method} {url} with the token: expected {expected}, "
                f"got {describe(answers['the'])}"
            )
    assert tried > 20
    assert not failures, "\n".join(failures)


@pytest.mark.django_db
def test_token_writes_need_no_csrf_token(world: World) -> None:
    token = Token.objects.create(user=world.users["owner"])
    refs = world.refs_for("owner")
    failures = []
    tried = 0
    for (route, method), row in sorted(EXPECTED.items()):
        if method not in UNSAFE or not route.startswith("api/") or route not in ROUTES:
            continue
        client = Client(enforce_csrf_checks=True)
        body = row.body(refs) if row.body and row.method == method else None
        response = send(
            client, method, url_for(route, refs), body, {"Authorization": f"Token {token.key}"}
        )
        tried += 1
        if not matches(row.owner, response):
            failures.append(f"{method} {route}: expected {row.owner}, got {describe(response)}")
    assert tried > 20
    assert not failures, "\n".join(failures)
