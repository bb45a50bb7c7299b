"""The hover atlas of an image (export_onnx/atlas_format.py), stored beside its embedding."""

from __future__ import annotations

from django.http import HttpResponse, HttpResponseBase
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator import selectors, services
from annotator.api.views.base import image_for
from annotator.models import Embedding
from annotator.permissions import Can

IMMUTABLE = "private, max-age=31536000, immutable"


class ImageAtlasView(APIView):
    """GET: the atlas (application/octet-stream) with X-Model-Sha256 and an ETag; 404 while
    there is none (not computed yet, or an image from before atlases): the page then hovers
    with exact decodes only; 409 when the stored one is unusable (corrupt, another model's),
    which is never sent. Readable by whoever may read the image's embedding."""

    @extend_schema(
        responses={
            (200, "application/octet-stream"): bytes,
            404: OpenApiResponse(description="no atlas for this image (yet)"),
            409: OpenApiResponse(description="the stored atlas is unusable; detail says why"),
        }
    )
    def get(self, request: Request, pk: int) -> HttpResponseBase:
        image, _ = image_for(request, pk, Can.READ)
        row = selectors.embedding_for_image(image=image)
        if row is None or row.status != Embedding.Status.READY or not row.atlas:
            detail = "No hover atlas for this image yet; hover uses exact decodes."
            return Response({"detail": detail}, status=status.HTTP_404_NOT_FOUND)
        etag = f'"{row.atlas_sha256}"'
        headers = {
            "ETag": etag,
            "Cache-Control": IMMUTABLE,
            "X-Model-Sha256": row.sam_model.sha256,
            "Access-Control-Expose-Headers": "ETag, X-Model-Sha256",
        }
        if request.headers.get("If-None-Match") == etag:
            return HttpResponse(status=304, headers=headers)
        with row.atlas.open("rb") as f:
            data = f.read()
        # Never sent unchecked: a 409 (services.Conflict) says why instead.
        services.atlas_check(data=data, sam_model_sha256=row.sam_model.sha256)
        return HttpResponse(data, content_type="application/octet-stream", headers=headers)
