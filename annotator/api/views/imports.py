"""Annotation imports: files in COCO, YOLO-seg or mask form, or YOLO boxes as SAM prompts,
with the images in the same archive, and a dry run."""

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
from annotator.api.serializers.jobs import ImportPlanSerializer
from annotator.api.views.base import project_for
from annotator.permissions import Can


class ProjectImportView(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": s.ImportCreateSerializer},
        responses={
            200: OpenApiResponse(ImportPlanSerializer, description="dry_run: what would happen"),
            201: s.ImportResultSerializer,
            202: OpenApiResponse(s.JobSerializer, description="yolo_boxes: the auto_annotate Job"),
            400: OpenApiResponse(description="malformed file, or images not in the project"),
            409: OpenApiResponse(description="every image is held (accepted, locked): nothing"),
        },
        description=(
            "Import annotations, all or nothing, with the images in the same zip (uploaded "
            "through the upload checks; an image the project has is matched, not refused). "
            "Images are matched by their original file name. coco, yolo_seg and masks answer "
            "201 with counts; yolo_boxes (a zip of YOLO detection .txt files, one per image "
            "stem, class names in classes.txt or data.yaml) starts an auto_annotate job: 202. "
            "dry_run=true answers 200 with what would be created and the problems, and writes "
            "nothing. Images the review rules or someone's edit lock hold are left alone and "
            "listed in `skipped` with the reason (409 when that leaves nothing to import)."
        ),
    )
    def post(self, request: Request, pk: int) -> Response:
        project, _ = project_for(request, pk, Can.MANAGE)
        data = s.ImportCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        form = data.validated_data
        plan = services.import_run(
            project=project,
            fmt=form["format"],
            data=services.upload_read(form["file"]),
            by=request.user,
            dry_run=form["dry_run"],
            label=form.get("label"),
            options={k: form[k] for k in ("classes", "max_det") if k in form},
        )
        if form["dry_run"]:
            body = {k: v for k, v in asdict(plan).items() if k != "job"}
            return Response(ImportPlanSerializer(body).data)
        if plan.job is not None:
            return Response(s.JobSerializer(plan.job).data, status=status.HTTP_202_ACCEPTED)
        result = {**asdict(services.plan_result(plan)), "images_added": len(plan.images_new)}
        return Response(result, status=status.HTTP_201_CREATED)
