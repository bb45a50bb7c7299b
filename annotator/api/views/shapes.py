"""Label attributes (managed per project) and image-level tags."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator import selectors, services
from annotator.api import serializers as s
from annotator.api.views.base import PaginatedView, image_for, project_for
from annotator.models import Attribute, Label, Project
from annotator.permissions import Can


def _attribute(project: Project, pk: int) -> Attribute:
    return get_object_or_404(selectors.attribute_list(project=project), pk=pk)


class AttributeListView(PaginatedView):
    serializer_class = s.AttributeSerializer

    def get(self, request: Request, pk: int) -> Response:
        project, _ = project_for(request, pk, Can.READ)
        return self.paginated(selectors.attribute_list(project=project))

    @extend_schema(request=s.AttributeCreateSerializer, responses={201: s.AttributeSerializer})
    def post(self, request: Request, pk: int) -> Response:
        project, _ = project_for(request, pk, Can.MANAGE)
        data = s.AttributeCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = dict(data.validated_data)
        label = None
        if v.get("label") is not None:
            label = selectors.label_of(project=project, pk=v["label"])
            if label is None:
                raise services.Invalid(f"Label {v['label']} is not a label of this project.")
        v["label"] = label
        attribute = services.attribute_create(project=project, **v)
        return Response(s.AttributeSerializer(attribute).data, status=status.HTTP_201_CREATED)


class AttributeDetailView(APIView):
    serializer_class = s.AttributeSerializer

    @extend_schema(request=s.AttributeUpdateSerializer, responses=s.AttributeSerializer)
    def patch(self, request: Request, pk: int, attribute_id: int) -> Response:
        project, _ = project_for(request, pk, Can.MANAGE)
        attribute = _attribute(project, attribute_id)
        data = s.AttributeUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        attribute = services.attribute_update(attribute=attribute, **data.validated_data)
        return Response(s.AttributeSerializer(attribute).data)

    def delete(self, request: Request, pk: int, attribute_id: int) -> Response:
        project, _ = project_for(request, pk, Can.MANAGE)
        services.attribute_delete(attribute=_attribute(project, attribute_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ImageTagView(APIView):
    """POST sets the tag on the image, DELETE takes it off; both answer the image's tags."""

    serializer_class = s.ImageTagsSerializer

    def _set(self, request: Request, pk: int, label_id: int, on: bool) -> Response:
        image, _ = image_for(request, pk, Can.ANNOTATE)
        # A URL's object: another project's label answers 404 like a missing one.
        label: Label = get_object_or_404(selectors.label_list(project=image.project), pk=label_id)
        tags = services.image_tag_set(image=image, label=label, user=request.user, on=on)
        return Response({"tags": tags})

    @extend_schema(request=None, responses=s.ImageTagsSerializer)
    def post(self, request: Request, pk: int, label_id: int) -> Response:
        return self._set(request, pk, label_id, on=True)

    @extend_schema(request=None, responses=s.ImageTagsSerializer)
    def delete(self, request: Request, pk: int, label_id: int) -> Response:
        return self._set(request, pk, label_id, on=False)
