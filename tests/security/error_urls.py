"""The project's URLs plus two that fail on purpose, for test_error_pages.py (an unhandled
exception is the one error no real route may produce on demand)."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import path

from webapp.urls import handler400, handler403, handler404, handler500
from webapp.urls import urlpatterns as project

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]


def fail(request: HttpRequest) -> HttpResponse:
    # A local variable and a message that hold the broker's URL, as a real failure might.
    broker = settings.CELERY_BROKER_URL
    raise RuntimeError(f"cannot reach the broker at {broker}")


urlpatterns = [path("api/fail", fail), path("fail", fail), *project]
