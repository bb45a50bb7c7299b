"""Server-rendered shells for the pages; the frontend bundles do the interactive work.

Each shell only checks that the caller may see the object (404 otherwise, as the API does) and
hands its id to the page's script; everything else comes from the API.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from annotator import selectors
from annotator.models import Image


# The shells only show; every write goes through the API. Refusing other methods first (before
# the login redirect or the lookup) also keeps a POST from rendering a page.
@require_safe
def status(request: HttpRequest) -> HttpResponse:
    return render(request, "annotator/status.html")


@require_safe
@login_required
def projects(request: HttpRequest) -> HttpResponse:
    return render(request, "annotator/projects.html")


@require_safe
@login_required
def images(request: HttpRequest, pk: int) -> HttpResponse:
    project = selectors.project_list(user=request.user).filter(pk=pk).first()
    if project is None:
        raise Http404("Not found.")
    context = {"project": project, "statuses": Image.Status.choices}
    return render(request, "annotator/images.html", context)


@require_safe
@login_required
def annotate(request: HttpRequest, pk: int) -> HttpResponse:
    image = selectors.images_visible_to(user=request.user).filter(pk=pk).first()
    if image is None:
        raise Http404("Not found.")
    return render(request, "annotator/annotate.html", {"image": image})
