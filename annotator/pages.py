"""Server-rendered shells for the pages; the frontend bundles do the interactive work.

Each shell only checks that the caller may see the object (404 otherwise, as the API does) and
hands its id to the page's script; everything else comes from the API.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from annotator import selectors
from annotator.api.serializers import KNOWN_CHECKPOINT_NAMES
from annotator.models import Image, Project, Role
from annotator.permissions import Can, role_of
from annotator.permissions import has as can


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
    context = {
        "project": project,
        "statuses": Image.Status.choices,
        "can_manage": can(request.user, project, Can.MANAGE),
    }
    return render(request, "annotator/images.html", context)


@require_safe
@login_required
def annotate(request: HttpRequest, pk: int) -> HttpResponse:
    image = selectors.images_visible_to(user=request.user).filter(pk=pk).first()
    if image is None:
        raise Http404("Not found.")
    return render(request, "annotator/annotate.html", {"image": image})


@require_safe
@login_required
def project_new(request: HttpRequest) -> HttpResponse:
    # Anyone signed in may create a project (the API's rule); they become its owner. Only the
    # names are offered: checkpoint paths an administrator registered stay in the admin.
    context = {"checkpoints": KNOWN_CHECKPOINT_NAMES, "default_checkpoint": settings.SAM_CHECKPOINT}
    return render(request, "annotator/manage/new.html", context)


def _managed(request: HttpRequest, pk: int) -> tuple[Project, str]:
    """The project for a manage page: 404 outside it, 403 for a role that cannot manage (the
    API's answers to the same caller, so the page never shows what the API would refuse)."""
    project = selectors.project_list(user=request.user).filter(pk=pk).first()
    if project is None:
        raise Http404("Not found.")
    role = role_of(request.user, project) or ""
    if not can(request.user, project, Can.MANAGE):
        raise PermissionDenied(f"Your role ({role}) in this project cannot manage it.")
    return project, role


def _manage_page(template: str, section: str) -> Callable[..., HttpResponse]:
    @require_safe
    @login_required
    def view(request: HttpRequest, pk: int) -> HttpResponse:
        project, role = _managed(request, pk)
        context = {
            "project": project,
            "role": role,
            "is_owner": role == Role.OWNER,
            "section": section,
            "statuses": Image.Status.choices,
            "roles": Role.choices,
            # Names only: the paths are the administrator's (the jobs page offers these).
            "detectors": sorted(settings.AUTO_ANNOTATE_DETECTORS),
        }
        return render(request, f"annotator/manage/{template}.html", context)

    view.__name__ = f"project_{section}"
    return view


project_settings = _manage_page("settings", "settings")
project_people = _manage_page("people", "people")
project_dataset = _manage_page("dataset", "dataset")
project_jobs = _manage_page("jobs", "jobs")
project_dashboard = _manage_page("dashboard", "dashboard")
