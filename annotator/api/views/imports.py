"""Annotation imports: files in COCO, YOLO-seg or mask form, or YOLO boxes as SAM prompts."""

from __future__ import annotations

from dataclasses import asdict

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator import services
from annotator.api import serializers as s
from annotator.api.views.base import project_for
from annotator.permissions import Can


class ProjectImportView(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": s.ImportCreateSerializer},
        responses={
            201: s.ImportResultSerializer,
            202: OpenApiResponse(s.JobSerializer, description="yolo_boxes: the auto_annotate Job"),
            400: OpenApiResponse(description="malformed file, or images not in the project"),
            409: OpenApiResponse(description="every image is held (accepted, locked): nothing"),
        },
        description=(
            "Import annotations, all or nothing. Images are matched by their original file name. "
            "coco, yolo_seg and masks answer 201 with counts; yolo_boxes (a zip of YOLO "
            "detection .txt files, one per image stem) starts an auto_annotate job: 202. Images "
            "the review rules or someone's edit lock hold are left alone and listed in `skipped` "
            "with the reason (409 when that leaves nothing to import)."
        ),
    )
    def post(self, request: Request, pk: int) -> Response:
        project, _ = project_for(request, pk, Can.MANAGE)
        data = s.ImportCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fmt = data.validated_data["format"]
        content = services.upload_read(data.validated_data["file"])
        if fmt == "yolo_boxes":
            job = services.boxes_import(
                project=project, data=content, by=request.user,
                label=data.validated_data.get("label"),
            )  # fmt: skip
            return Response(s.JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
        dataset = services.dataset_read(project=project, fmt=fmt, data=content)
        result = services.annotation_import(project=project, dataset=dataset, by=request.user)
        return Response(asdict(result), status=status.HTTP_201_CREATED)
