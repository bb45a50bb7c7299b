"""What the jobs panel and its dialogs read: the project's embeddings as one line of work, the
detectors an auto-annotation may use and the SAM checkpoints a project may use."""

from __future__ import annotations

from dataclasses import asdict

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator import selectors, services
from annotator.api.serializers.jobs import (
    CheckpointSerializer,
    DetectorSerializer,
    EmbeddingSummarySerializer,
)
from annotator.api.views.base import project_for
from annotator.permissions import Can


class ProjectEmbeddingSummaryView(APIView):
    @extend_schema(responses={200: EmbeddingSummarySerializer})
    def get(self, request: Request, pk: int) -> Response:
        project, _ = project_for(request, pk, Can.READ)
        return Response(selectors.embedding_summary(project=project))


class DetectorListView(APIView):
    @extend_schema(responses={200: DetectorSerializer(many=True)})
    def get(self, request: Request) -> Response:
        return Response([asdict(d) for d in services.detector_list()])


class CheckpointListView(APIView):
    @extend_schema(responses={200: CheckpointSerializer(many=True)})
    def get(self, request: Request) -> Response:
        return Response([asdict(c) for c in services.checkpoint_list(user=request.user)])
