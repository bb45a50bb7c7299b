"""Images: upload (files and zip archives), list, status and assignment, the file, the lock."""

from __future__ import annotations

import contextlib

from django.http import FileResponse, HttpResponse, HttpResponseBase
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator import selectors, services
from annotator.api import serializers as s
from annotator.api.pagination import ImagePagination
from annotator.api.views.base import PaginatedView, image_for, project_for
from annotator.models import Image
from annotator.permissions import Can, has

CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


class ImageListView(PaginatedView):
    """GET lists the project's images: filters ?status= ?assignee= ?unassigned= ?label=
    ?embedding= ?search= (a name prefix), ?ordering=, and either ?limit=&offset= pages or keyset
    pages (?cursor=, see annotator.api.pagination.ImagePagination). POST uploads images and zip
    archives (multipart field `files`, repeated), all or nothing: each image is stored as 8-bit
    RGB with its EXIF rotation applied (CMYK, 16-bit, grey, palette and alpha converted; a plain
    RGB JPEG/PNG/WebP is kept byte for byte), and its embedding is enqueued. Refused with a
    message: not an image or truncated (400), over IMAGE_MAX_PIXELS (400), over
    IMAGE_MAX_UPLOAD_BYTES (413), a zip entry escaping the archive or a zip bomb (400), the same
    file already in the project (409)."""

    serializer_class = s.ImageSerializer
    parser_classes = [MultiPartParser, FormParser]
    pagination_class = ImagePagination

    @extend_schema(parameters=[s.ImageFilterSerializer])
    def get(self, request: Request, pk: int) -> Response:
        project, _ = project_for(request, pk, Can.READ)
        filters = s.ImageFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        ordering = filters.validated_data.pop("ordering")
        images = selectors.image_list(
            project=project, filters=filters.validated_data, ordering=ordering
        )
        paginator = self.paginator
        assert isinstance(paginator, ImagePagination)
        # Keyset pages only: the offset form's exact COUNT is what PostgreSQL's parallel
        # workers are good for (63 ms with them, 187 without, at a million images).
        keyset = paginator.cursor_query_param in request.query_params
        with selectors.list_reads() if keyset else contextlib.nullcontext():
            page = paginator.paginate_images(images, request, ordering=ordering)
        for image, count in _annotation_counts(page):
            image.annotation_count = count  # type: ignore[attr-defined]
        context = {"embedding_statuses": selectors.embedding_statuses(images=page)}
        return self.get_paginated_response(s.ImageSerializer(page, many=True, context=context).data)

    @extend_schema(request={"multipart/form-data": s.ImageUploadSerializer},
                   responses={201: s.ImageSerializer(many=True)})  # fmt: skip
    def post(self, request: Request, pk: int) -> Response:
        project, _ = project_for(request, pk, Can.MANAGE)
        data = s.ImageUploadSerializer(data={"files": request.FILES.getlist("files")})
        data.is_valid(raise_exception=True)
        images = services.image_import(
            project=project, files=data.validated_data["files"], uploaded_by=request.user
        )
        return Response(s.ImageSerializer(images, many=True).data, status=status.HTTP_201_CREATED)


def _annotation_counts(page: list[Image]) -> list[tuple[Image, int]]:
    counts = selectors.annotation_counts(images=page)
    return [(image, counts.get(image.pk, 0)) for image in page]


class ImageDetailView(APIView):
    serializer_class = s.ImageSerializer

    def get(self, request: Request, pk: int) -> Response:
        image, _ = image_for(request, pk, Can.READ)
        return Response(s.ImageSerializer(image).data)

    @extend_schema(request=s.ImageUpdateSerializer, responses=s.ImageSerializer)
    def patch(self, request: Request, pk: int) -> Response:
        """`status` is a step of the review workflow (services/review.py says who may take
        which); `assignee` is a manager's. A read-only role never writes, not even nothing."""
        image, _ = image_for(request, pk, Can.ANNOTATE)
        data = s.ImageUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        if "status" not in v and "assignee" not in v:
            raise ValidationError("Nothing to change: send status (a review step) or assignee.")
        if "assignee" in v:
            image_for(request, pk, Can.MANAGE)
            assignee = services.project_member(project=image.project, user_id=v["assignee"])
            image = services.image_update(image=image, assignee=assignee)
        if "status" in v:
            image = services.image_transition(
                image=image, user=request.user, to=v["status"], comment=v["comment"]
            )
        return Response(s.ImageSerializer(image).data)

    def delete(self, request: Request, pk: int) -> Response:
        image, _ = image_for(request, pk, Can.MANAGE)
        services.image_delete(image=image)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ImageFileView(APIView):
    """The stored (normalised) image. Served through the permission check, never a public URL."""

    @extend_schema(responses={(200, "image/*"): bytes})
    def get(self, request: Request, pk: int) -> HttpResponseBase:
        image, _ = image_for(request, pk, Can.READ)
        etag = f'"{image.sha256}"'
        if request.headers.get("If-None-Match") == etag:
            return HttpResponse(status=304, headers={"ETag": etag})
        extension = image.file.name.rsplit(".", 1)[-1].lower()
        response = FileResponse(
            image.file.open("rb"), content_type=CONTENT_TYPES.get(extension, "image/png")
        )
        response["ETag"] = etag
        # Private: behind authentication. The bytes of an image id never change.
        response["Cache-Control"] = "private, max-age=31536000, immutable"
        return response


class ImageLockView(APIView):
    """POST takes or renews the edit lock (423 if someone else holds it; 409 while the image's
    status lets the caller not edit it: accepted, or submitted to a non-reviewer); DELETE releases it
    (managers may break another user's lock)."""

    serializer_class = s.ImageSerializer

    @extend_schema(request=None, responses=s.ImageSerializer)
    def post(self, request: Request, pk: int) -> Response:
        image, _ = image_for(request, pk, Can.ANNOTATE)
        image = services.image_lock_to_edit(image=image, user=request.user)
        return Response(s.ImageSerializer(image).data)

    @extend_schema(request=None, responses=s.ImageSerializer)
    def delete(self, request: Request, pk: int) -> Response:
        image, _ = image_for(request, pk, Can.ANNOTATE)
        force = has(request.user, image.project_id, Can.MANAGE)
        image = services.image_unlock(image=image, user=request.user, force=force)
        return Response(s.ImageSerializer(image).data)


class NextImageView(APIView):
    """The caller's next image to annotate, or with ?review=1 (reviewers) to review (see
    selectors.image_next_for); 204 when none."""

    serializer_class = s.ImageSerializer

    @extend_schema(
        parameters=[s.NextImageQuerySerializer], responses={200: s.ImageSerializer, 204: None}
    )
    def get(self, request: Request, pk: int) -> Response:
        project, _ = project_for(request, pk, Can.ANNOTATE)
        query = s.NextImageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        review = query.validated_data["review"]
        if review:
            project_for(request, pk, Can.REVIEW)
        image = selectors.image_next_for(
            project=project, user=request.user, after=query.validated_data.get("after"),
            review=review,
        )  # fmt: skip
        if image is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(s.ImageSerializer(image).data)
