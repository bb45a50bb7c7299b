"""Annotations: list and create per image, read/update/delete by id, bulk changes."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator import selectors, services
from annotator.api import serializers as s
from annotator.api.views.base import PaginatedView, annotation_for, image_for
from annotator.models import Image, Label
from annotator.permissions import Can


def _label(image: Image, label_id: int) -> Label:
    label = selectors.label_of(project=image.project, pk=label_id)
    if label is None:
        raise services.Invalid(f"Label {label_id} is not a label of this project.")
    return label


class ImageAnnotationListView(PaginatedView):
    serializer_class = s.AnnotationSerializer

    def get(self, request: Request, pk: int) -> Response:
        image, _ = image_for(request, pk, Can.READ)
        return self.paginated(selectors.annotation_list(image=image))

    @extend_schema(request=s.AnnotationCreateSerializer, responses={201: s.AnnotationSerializer})
    def post(self, request: Request, pk: int) -> Response:
        image, _ = image_for(request, pk, Can.ANNOTATE)
        data = s.AnnotationCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        annotation = services.annotation_create(
            image=image,
            label=_label(image, v["label"]),
            created_by=request.user,
            polygons=v.get("polygons"),
            rle=v.get("rle"),
            source=v["source"],
            score=v.get("score"),
            prompts=v.get("prompts"),
            kind=v["kind"],
            bbox=v.get("bbox"),
            attributes=v.get("attributes"),
        )
        return Response(s.AnnotationSerializer(annotation).data, status=status.HTTP_201_CREATED)


class AnnotationDetailView(APIView):
    """PATCH/PUT must carry the `version` that was read: a stale one gets 409, and the client
    reloads instead of overwriting someone else's edit."""

    serializer_class = s.AnnotationSerializer

    def get(self, request: Request, pk: int) -> Response:
        annotation = annotation_for(request, pk, Can.READ)
        response = Response(s.AnnotationSerializer(annotation).data)
        response["ETag"] = f'"{annotation.version}"'
        return response

    @extend_schema(request=s.AnnotationUpdateSerializer, responses=s.AnnotationSerializer)
    def patch(self, request: Request, pk: int) -> Response:
        annotation = annotation_for(request, pk, Can.ANNOTATE)
        data = s.AnnotationUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        label = _label(annotation.image, v["label"]) if "label" in v else None
        annotation = services.annotation_update(
            annotation=annotation,
            version=v["version"],
            updated_by=request.user,
            label=label,
            polygons=v.get("polygons"),
            rle=v.get("rle"),
            score=v.get("score"),
            prompts=v.get("prompts"),
            kind=v.get("kind"),
            bbox=v.get("bbox"),
            attributes=v.get("attributes"),
        )
        response = Response(s.AnnotationSerializer(annotation).data)
        response["ETag"] = f'"{annotation.version}"'
        return response

    put = patch

    def delete(self, request: Request, pk: int) -> Response:
        annotation = annotation_for(request, pk, Can.ANNOTATE)
        raw = request.query_params.get("version")
        if raw is not None and not raw.isdigit():
            raise services.Invalid("version must be a positive integer.")
        services.annotation_delete(
            annotation=annotation, deleted_by=request.user, version=int(raw) if raw else None
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class AnnotationBulkView(APIView):
    """Create and delete many annotations of one image in one transaction: all or nothing."""

    @extend_schema(
        request=s.AnnotationBulkSerializer, responses={200: s.AnnotationBulkResultSerializer}
    )
    def post(self, request: Request) -> Response:
        data = s.AnnotationBulkSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        image, _ = image_for(request, v["image"], Can.ANNOTATE)
        created = services.annotation_bulk(
            image=image,
            user=request.user,
            create=v["create"],
            delete=v["delete"],
            delete_versions=v.get("versions"),
        )
        return Response({"created": s.AnnotationSerializer(created, many=True).data})
