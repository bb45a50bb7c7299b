"""Server-rendered shells for the pages; the frontend bundles do the interactive work."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def status(request: HttpRequest) -> HttpResponse:
    return render(request, "annotator/status.html")
