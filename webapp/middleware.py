"""Headers on every response, and JSON for every error under /api/.

Cross-origin isolation: onnxruntime-web runs its WASM on several threads only when the page is
cross-origin isolated (`crossOriginIsolated === true`), which needs COOP and COEP on the
document and on the worker scripts it starts. Nothing on the page is loaded from another
origin, so `require-corp` costs nothing, and CORP `same-origin` keeps other sites from embedding
our media and embeddings.

Content-Security-Policy: the same reasoning, applied to script. Everything the pages run comes
from our origin, so a policy that allows nothing else turns an injected <script> or a hostile
CDN into a blocked request (tests/browser/test_csp.py opens every page under it).
"""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from annotator.api.errors import is_api, json_error

# Scripts only from our origin, never inline, never eval; the decoder needs 'wasm-unsafe-eval'
# (onnxruntime-web compiles WASM) and workers, which onnxruntime may start from blob: URLs.
# The templates (the annotation page, Swagger UI's) carry inline <style> and style attributes;
# style cannot run script, so styles may be inline. The admin fits within this as it is.
CONTENT_SECURITY_POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'", "'wasm-unsafe-eval'"],
    "worker-src": ["'self'", "blob:"],
    "style-src": ["'self'", "'unsafe-inline'"],
    "img-src": ["'self'", "data:", "blob:"],
    "font-src": ["'self'", "data:"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
CSP_HEADER = "; ".join(f"{name} {' '.join(sources)}" for name, sources in CONTENT_SECURITY_POLICY.items())  # fmt: skip


class CrossOriginIsolationMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        response.headers.setdefault("Cross-Origin-Embedder-Policy", "require-corp")
        response.headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        return response


class ContentSecurityPolicyMiddleware:
    """On every response, the static files included: a worker script's own policy governs what
    the worker may load. Django 5.2 has no built-in CSP (6.0 adds SECURE_CSP, on Python 3.12)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CSP_HEADER)
        return response


class ApiErrorMiddleware:
    """Under /api/, an error that left Django as HTML becomes JSON {"detail": ...}.

    DRF answers its own errors as JSON; this catches what happens around it, whatever DEBUG
    says: a URL no route matches, a bad Host header, a body over Django's limits, a method a
    plain Django view refuses, an unhandled exception. With DEBUG on, Django renders those as
    its technical pages, which this middleware never lets out under /api/ (the exception
    reporter of webapp/debug.py leaves the exception on the request so the JSON can name it).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code < 400 or not is_api(request) or _is_json(response):
            return response
        exception = getattr(request, "_api_exception", None)
        replacement = json_error(request, response.status_code, exception)
        for header, value in response.headers.items():
            if not header.lower().startswith("content-"):
                replacement.headers.setdefault(header, value)
        replacement.cookies = response.cookies
        return replacement


def _is_json(response: HttpResponse) -> bool:
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    return content_type == "application/json" or content_type.endswith("+json")
