"""The manage area's dataset and settings routes: bulk actions on a filter, thumbnails, the
labels' order."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse, HttpResponseBase
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator import selectors, services
from annotator.api import serializers as s
from annotator.api.views.base import image_for, project_for
from annotator.models import Project
from annotator.permissions import Can


class ImageBulkView(APIView):
    """One action on every image the list's filters match (and, with image_ids, only those
    of a selection), decided here rather than by the page sending one request per image:
    assign (one person, nobody, or round-robin over several in upload order), recompute
    embeddings, delete, or export (202 with the Job). All or nothing, at most
    services.BULK_MAX_IMAGES images (413 above: narrow the filter)."""

    @extend_schema(request=s.ImageBulkSerializer, responses=s.ImageBulkResultSerializer)
    def post(self, request: Request, pk: int) -> Response:
        data = s.ImageBulkSerializer(data=request.data)
        action = request.data.get("action") if isinstance(request.data, dict) else None
        # Exporting stays open on an archived project; every other action is a write.
        project, _ = project_for(request, pk, Can.MANAGE, archived_ok=action == "export")
        data.is_valid(raise_exception=True)
        v = data.validated_data
        images = self._images(project, v)
        if v["action"] == "assign":
            people = [services.project_member(project=project, user_id=u) for u in v["assignees"]]
            out: dict[str, Any] = services.images_bulk_assign(
                project=project, images=images, assignees=people
            )
        elif v["action"] == "recompute":
            out = services.images_bulk_recompute(project=project, images=images)
        elif v["action"] == "delete":
            out = services.images_bulk_delete(project=project, images=images)
        else:
            job = services.images_bulk_export(
                project=project, images=images, created_by=request.user,
                params=dict(v.get("export") or {"format": "coco"}),
            )  # fmt: skip
            out = {"matched": len(job.params["image_ids"]), "job": job.pk}
        body = s.ImageBulkResultSerializer({"action": v["action"], **out}).data
        return Response(body, status=202 if "job" in out else 200)

    def _images(self, project: Project, v: dict[str, Any]) -> Any:
        filters = dict(v.get("filters") or {})
        filters.pop("ordering", None)
        images = selectors.image_list(project=project, filters=filters)
        if "image_ids" in v:
            images = images.filter(pk__in=v["image_ids"])
        return images


class ImageThumbnailView(APIView):
    """A small WebP of the image (256 px on its longer side), made on the first request and
    kept in the media storage; the same permission check as the file, and cached by the
    browser for good (its bytes never change for an image id)."""

    @extend_schema(responses={(200, "image/webp"): bytes})
    def get(self, request: Request, pk: int) -> HttpResponseBase:
        image, _ = image_for(request, pk, Can.READ)
        etag = f'"{image.sha256}-thumb"'
        headers = {"ETag": etag, "Cache-Control": "private, max-age=31536000, immutable"}
        if request.headers.get("If-None-Match") == etag:
            return HttpResponse(status=304, headers=headers)
        name = services.image_thumbnail(image=image)
        with image.file.storage.open(name, "rb") as handle:
            body = handle.read()
        return HttpResponse(body, content_type="image/webp", headers=headers)


class LabelOrderView(APIView):
    """PUT the labels' order: the ids named go first, in that order, the others follow
    (services.label_reorder); an id that is not one of the project's labels is 400."""

    @extend_schema(request=s.LabelOrderSerializer, responses=s.LabelSerializer(many=True))
    def put(self, request: Request, pk: int) -> Response:
        project, _ = project_for(request, pk, Can.MANAGE)
        data = s.LabelOrderSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        labels = services.label_reorder(project=project, label_ids=data.validated_data["label_ids"])
        return Response(s.LabelSerializer(labels, many=True).data)
