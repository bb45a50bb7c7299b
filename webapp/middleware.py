"""Cross-origin isolation for every response.

onnxruntime-web runs its WASM on several threads only when the page is cross-origin isolated
(`crossOriginIsolated === true`), which needs COOP and COEP on the document and on the worker
scripts it starts. Nothing on the page is loaded from another origin, so `require-corp` costs
nothing, and CORP `same-origin` keeps other sites from embedding our media and embeddings.
"""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


class CrossOriginIsolationMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        response.headers.setdefault("Cross-Origin-Embedder-Policy", "require-corp")
        response.headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        return response
