"""What Django's error reports (the DEBUG page, the 500 emails to ADMINS) may show.

Django hides settings and environment variables whose *name* looks secret (KEY, SECRET, PASS,
TOKEN, ...), but a password inside a URL passes: `DATABASE_URL`, `CELERY_BROKER_URL`,
`CELERY_RESULT_BACKEND` and `CACHE_URL` name nothing secret, and runserver copies the whole
process environment into request.META. Here every string is cleansed of URL credentials too,
in the settings, in request.META, in the frames' local variables, and once more in the report
as rendered (an exception's message may quote a URL as well).
"""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpRequest
from django.views import debug

SUBSTITUTE = debug.SafeExceptionReporterFilter.cleansed_substitute
# scheme://user:password@host -> scheme://user:********@host (the user stays: it helps to see
# which account failed). Stops at characters that end a URL in text, HTML or a repr.
_URL_PASSWORD = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://[^:@/\s'\"<>]*):[^@\s/'\"<>]+@")
# ...?password=...&key=... in a URL's query (Redis Sentinel, presigned URLs, API keys).
_QUERY_SECRET = re.compile(
    r"([?&;](?:[\w.-]*(?:pass|pwd|secret|token|key|signature|sig|credential)[\w.-]*)=)"
    r"[^&;#\s'\"<>]+",
    flags=re.IGNORECASE,
)


def mask_url_secrets(text: str) -> str:
    text = _URL_PASSWORD.sub(rf"\1:{SUBSTITUTE}@", text)
    return _QUERY_SECRET.sub(rf"\1{SUBSTITUTE}", text)


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return mask_url_secrets(value)
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_masked(v) for v in value)
    return value


class SecretMaskingFilter(debug.SafeExceptionReporterFilter):
    """DEFAULT_EXCEPTION_REPORTER_FILTER: Django's filter, and URL credentials masked."""

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        # Settings and request.META (runserver's carries os.environ) both come through here.
        return _masked(super().cleanse_setting(key, value))

    def get_traceback_frame_variables(self, request: Any, tb_frame: Any) -> Any:
        return [(name, _masked(value)) for name, value in super().get_traceback_frame_variables(request, tb_frame)]  # fmt: skip


class ExceptionReporter(debug.ExceptionReporter):
    """DEFAULT_EXCEPTION_REPORTER: the report cleansed once more as rendered, and the exception
    left on the request for webapp.middleware.ApiErrorMiddleware (with DEBUG on, Django renders
    a 400 or a 500 here instead of calling the project's handlers, which would see it)."""

    def __init__(self, request: HttpRequest | None, *args: Any, **kwargs: Any) -> None:
        super().__init__(request, *args, **kwargs)
        if request is not None:
            request._api_exception = self.exc_value  # type: ignore[attr-defined]

    def get_traceback_html(self) -> str:
        return mask_url_secrets(super().get_traceback_html())

    def get_traceback_text(self) -> str:
        return mask_url_secrets(super().get_traceback_text())
