"""Annotation history over HTTP: an image's annotation versions (deleted annotations too, which
is why the route is the image's), and a revert to one. The rules live in services/revert.py."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator import selectors, services
from annotator.api import serializers as s
from annotator.api.views.base import PaginatedView, image_for
from annotator.permissions import Can


class ImageHistoryView(PaginatedView):
    """GET: the versions of the image's annotations, newest first (?annotation= for one; the
    fields of each version with ?snapshot=1)."""

    serializer_class = s.AnnotationVersionSerializer

    @extend_schema(parameters=[s.HistoryQuerySerializer])
    def get(self, request: Request, pk: int) -> Response:
        image, _ = image_for(request, pk, Can.READ)
        query = s.HistoryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        if q["snapshot"]:
            self.serializer_class = s.AnnotationVersionFullSerializer
        return self.paginated(
            selectors.annotation_history(image=image, annotation_id=q.get("annotation"))
        )


class ImageHistoryRevertView(APIView):
    """POST: make a version the annotation's current state, as a new version (200); a deleted
    annotation is restored under its id (201)."""

    serializer_class = s.AnnotationSerializer

    @extend_schema(
        request=s.RevertSerializer,
        responses={200: s.AnnotationSerializer, 201: s.AnnotationSerializer},
    )
    def post(self, request: Request, pk: int) -> Response:
        image, _ = image_for(request, pk, Can.ANNOTATE)
        data = s.RevertSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        existed = selectors.annotation_list(image=image).filter(pk=v["annotation"]).exists()
        annotation = services.annotation_revert(
            image=image, annotation_id=v["annotation"], to=v["to"], user=request.user,
            version=v.get("version"),
        )  # fmt: skip
        response = Response(
            s.AnnotationSerializer(annotation).data,
            status=status.HTTP_200_OK if existed else status.HTTP_201_CREATED,
        )
        response["ETag"] = f'"{annotation.version}"'
        return response
