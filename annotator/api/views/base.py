"""Lookups shared by the views: every object is found through the caller's memberships, so
another project's id answers 404 exactly like an id that does not exist."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.openapi import AutoSchema
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request

from annotator import selectors
from annotator.models import Annotation, Image, Job, Project
from annotator.permissions import Can, require


def project_for(request: Request, pk: int, capability: Can) -> tuple[Project, str]:
    project = selectors.project_list(user=request.user).filter(pk=pk).first()
    if project is None:
        raise Http404("Not found.")
    return project, require(request.user, project, capability)


def image_for(request: Request, pk: int, capability: Can) -> tuple[Image, str]:
    image = selectors.images_visible_to(user=request.user).filter(pk=pk).first()
    if image is None:
        raise Http404("Not found.")
    return image, require(request.user, image.project_id, capability)


def annotation_for(request: Request, pk: int, capability: Can) -> Annotation:
    annotation = selectors.annotations_visible_to(user=request.user).filter(pk=pk).first()
    if annotation is None:
        raise Http404("Not found.")
    require(request.user, annotation.image.project_id, capability)
    return annotation


def job_for(request: Request, pk: int, capability: Can) -> Job:
    job = selectors.jobs_visible_to(user=request.user).filter(pk=pk).first()
    if job is None:
        raise Http404("Not found.")
    require(request.user, job.project_id, capability)
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
