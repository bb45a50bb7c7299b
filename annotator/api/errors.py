"""Every error leaves the API as JSON {"detail": ...} with a precise status, never a 500 page."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from django.core.exceptions import (
    DisallowedHost,
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from annotator.services import QuotaExceeded, ServiceError

# Seconds a client should wait before retrying a 503 (broker or storage down): long enough not
# to hammer a broker that is down, short because an outage is often short.
RETRY_AFTER_UNAVAILABLE = 10


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ServiceError):
        # A 503 is the one answer that retrying fixes; say when (RFC 9110 section 10.2.3).
        headers = {"Retry-After": str(RETRY_AFTER_UNAVAILABLE)} if exc.status == 503 else None
        if isinstance(exc, QuotaExceeded):
            headers = {"Retry-After": str(exc.retry_after)}
        return Response({"detail": str(exc), **exc.extra}, status=exc.status, headers=headers)
    if isinstance(exc, DjangoValidationError):
        return Response({"detail": "; ".join(exc.messages)}, status=400)
    if isinstance(exc, OperationalError) and "database is locked" in str(exc):
        # SQLite has one writer; a write that waited out the busy timeout (or could not wait,
        # holding a read snapshot) is contention, which a retry resolves, not a server fault.
        return Response(
            {"detail": "The database is busy with other writes; try again in a moment."},
            status=503,
            headers={"Retry-After": str(RETRY_AFTER_UNAVAILABLE)},
        )
    # Django's request limits (DATA_UPLOAD_MAX_MEMORY_SIZE, ..._NUMBER_FIELDS, ..._NUMBER_FILES)
    # raise while DRF parses the body; left alone they become Django's HTML 400 page.
    if isinstance(exc, RequestDataTooBig):
        return Response({"detail": f"The request body is too large: {exc}"}, status=413)
    if isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        return Response({"detail": f"The request has too many parts: {exc}"}, status=400)
    response = drf_exception_handler(exc, context)
    if (
        response is not None
        and isinstance(response.data, (dict, list))
        and (not isinstance(response.data, dict) or "detail" not in response.data)
    ):
        # Field errors: keep them, and add one readable sentence for scripts that print "detail".
        response.data = {"detail": _flatten(response.data), "errors": response.data}
    return response


def _flatten(data: Any, prefix: str = "") -> str:
    if isinstance(data, dict):
        # A serializer's validate() errors are about the whole request: DRF files them under
        # non_field_errors, a name that means nothing to the person reading the sentence.
        return "; ".join(
            _flatten(v, prefix if k == api_settings.NON_FIELD_ERRORS_KEY else f"{prefix}{k}: ")
            for k, v in data.items()
        )
    if isinstance(data, list):
        return "; ".join(_flatten(v, prefix) for v in data)
    return f"{prefix}{data}"


def is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def json_error(
    request: HttpRequest, status: int, exception: BaseException | None = None
) -> JsonResponse:
    """The JSON answer to an error Django raised outside DRF (webapp.middleware.ApiErrorMiddleware
    and the handlers below): a sentence that names the problem, never the exception's text,
    which may quote the Host header or a path on the server."""
    if isinstance(exception, RequestDataTooBig) or status == 413:
        status, detail = 413, "The request body is too large."
    elif isinstance(exception, TooManyFieldsSent | TooManyFilesSent):
        detail = "The request has too many parts."
    elif isinstance(exception, DisallowedHost):
        detail = "The Host header names a host this server does not serve."
    elif status == 404:
        detail = f"No API endpoint at {request.path}."
    elif status == 405:
        detail = f"Method {request.method} is not allowed here."
    elif status == 403:
        detail = "You do not have permission to perform this action."
    elif status >= 500:
        detail = "Internal server error; it has been logged."
    else:
        try:
            detail = f"{HTTPStatus(status).phrase}."
        except ValueError:
            detail = "The request failed."
    return JsonResponse({"detail": detail}, status=status)


# Django's error handlers (webapp/urls.py), which it calls when DEBUG is off: JSON under /api/
# (a client parsing `detail` should not get an HTML page), Django's plain pages elsewhere.


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api(request):
        return json_error(request, 400, exception)
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api(request):
        return json_error(request, 403, exception)
    return defaults.permission_denied(request, exception)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api(request):
        return json_error(request, 404, exception)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """Last resort for an unhandled exception (logged by Django)."""
    if is_api(request):
        return json_error(request, 500)
    return defaults.server_error(request)
