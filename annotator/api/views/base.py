"""Lookups shared by the views: every object is found through the caller's memberships, so
another project's id answers 404 exactly like an id that does not exist."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.openapi import AutoSchema
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request

from annotator import selectors, services
from annotator.models import Annotation, Image, Job, Project
from annotator.permissions import Can, require


def _writable(request: Request, project: Project, archived_ok: bool) -> None:
    # Every write the API takes passes here, so an archived project refuses them all in one
    # place (409, "unarchive it in settings"); the few that stay open say archived_ok: the
    # export, the settings' unarchive and the project's deletion.
    if request.method not in SAFE_METHODS and not archived_ok:
        services.project_writable(project=project)


def project_for(
    request: Request, pk: int, capability: Can, *, archived_ok: bool = False
) -> tuple[Project, str]:
    project = selectors.project_list(user=request.user).filter(pk=pk).first()
    if project is None:
        raise Http404("Not found.")
    role = require(request.user, project, capability)
    _writable(request, project, archived_ok)
    return project, role


def image_for(request: Request, pk: int, capability: Can) -> tuple[Image, str]:
    image = selectors.images_visible_to(user=request.user).filter(pk=pk).first()
    if image is None:
        raise Http404("Not found.")
    role = require(request.user, image.project_id, capability)
    _writable(request, image.project, False)
    return image, role


def annotation_for(request: Request, pk: int, capability: Can) -> Annotation:
    annotation = selectors.annotations_visible_to(user=request.user).filter(pk=pk).first()
    if annotation is None:
        raise Http404("Not found.")
    require(request.user, annotation.image.project_id, capability)
    _writable(request, annotation.image.project, False)
    return annotation


def job_for(request: Request, pk: int, capability: Can) -> Job:
    job = selectors.jobs_visible_to(user=request.user).filter(pk=pk).first()
    if job is None:
        raise Http404("Not found.")
    require(request.user, job.project_id, capability)
    _writable(request, job.project, False)
    return job


class _PageSchema(AutoSchema):
    # drf-spectacular takes a GET without a ListModelMixin for a single object: the schema
    # then showed one object, not a page, and /projects/ and /projects/{id}/ shared an
    # operationId (a warning that fails `check --deploy --fail-level WARNING`).
    def _is_list_view(self, serializer: Any = None) -> bool:
        return self.method == "GET" or super()._is_list_view(serializer)


class PaginatedView(GenericAPIView):
    """A view whose GET answers a LimitOffsetPagination page of a queryset."""

    schema = _PageSchema()

    def paginated(self, queryset: Any, **context: Any) -> Any:
        page = self.paginate_queryset(queryset)
        serializer = self.get_serializer(page, many=True, context={**context})
        return self.get_paginated_response(serializer.data)
