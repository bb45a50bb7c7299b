"""Login throttling: too many failed logins for one username from one address answer 429.

Both login forms (the site's, /accounts/login/, and the admin's) authenticate through Django's
`authenticate()`, which sends `user_login_failed` on a failure; the counter is in the cache
(settings.CACHES: files in var/ on one machine, Redis across several), so every web process
sees the same count. The API has no password endpoint: it takes a session or a token, and a
token (40 random hex characters) cannot be guessed at any rate a throttle would allow.

Keyed by username *and* address, so that someone guessing one account's password is stopped,
and a stranger cannot lock a colleague out from elsewhere. Behind a proxy every client has the
proxy's address, and the key is in effect the username alone (README, Production).
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.cache import cache
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)

# Django's own login views, by URL name: the site's (django.contrib.auth.urls) and the admin's.
LOGIN_VIEWS = {"login", "admin:login"}


def _key(request: HttpRequest, username: str) -> str:
    # Hashed: a cache key holds neither what someone typed as a username nor their address.
    who = f"{username.strip().casefold()}\0{request.META.get('REMOTE_ADDR', '')}"
    return "login-failures:" + hashlib.sha256(who.encode()).hexdigest()


def retry_after(request: HttpRequest, username: str) -> int | None:
    """Seconds until this username may try again from this address; None if it may now."""
    try:
        record = cache.get(_key(request, username))
    except Exception:  # noqa: BLE001 - a cache outage must not stop every login: fail open
        logger.warning("cache unavailable; login throttling is off", exc_info=True)
        return None
    if not record or record["count"] < settings.LOGIN_THROTTLE_FAILURES:
        return None
    left = record["since"] + settings.LOGIN_THROTTLE_SECONDS - time.time()
    return math.ceil(left) if left > 0 else None


def record_failure(request: HttpRequest, username: str) -> None:
    """One more failure in the window that the first failure opened (a fixed window: waiting
    it out is enough, and a blocked caller's further tries do not reach here)."""
    key = _key(request, username)
    now = time.time()
    record = cache.get(key)
    if not record or now - record["since"] >= settings.LOGIN_THROTTLE_SECONDS:
        record = {"count": 0, "since": now}
    record["count"] += 1
    remaining = record["since"] + settings.LOGIN_THROTTLE_SECONDS - now
    cache.set(key, record, timeout=max(1, math.ceil(remaining)))


# Django reports a failed password only through this signal (with the request and the
# username, the password removed); the cache calls fail open, as in retry_after().


@receiver(user_login_failed, dispatch_uid="webapp.throttle.failed")
def _on_failure(sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any) -> None:  # fmt: skip
    if request is not None:
        with _cache_errors_logged():
            record_failure(request, str(credentials.get("username", "")))


@receiver(user_logged_in, dispatch_uid="webapp.throttle.success")
def _on_success(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    # Both spellings: the one typed (what the failures counted) and the account's own.
    if request is not None:
        typed = request.POST.get("username", "") if request.method == "POST" else ""
        with _cache_errors_logged():
            cache.delete_many({_key(request, n) for n in (typed, user.get_username()) if n})


@contextmanager
def _cache_errors_logged() -> Iterator[None]:
    try:
        yield
    except Exception:  # noqa: BLE001 - see retry_after()
        logger.warning("cache unavailable; a login was not counted", exc_info=True)


class LoginThrottleMiddleware:
    """Refuses a login POST whose username and address are over the limit, before the password
    is even checked (a right password must not get through either, or the limit is no limit)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponse | None:
        match = request.resolver_match
        if request.method != "POST" or match is None or match.view_name not in LOGIN_VIEWS:
            return None
        wait = retry_after(request, request.POST.get("username", ""))
        if wait is None:
            return None
        minutes = math.ceil(wait / 60)
        body = render_to_string(
            "registration/throttled.html", {"minutes": minutes}, request=request
        )
        response = HttpResponse(body, status=429)
        response["Retry-After"] = str(wait)
        return response
