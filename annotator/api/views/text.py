"""Text prompts: start a job that finds every instance of some phrases, and whether the workers
can run one (and with which engine)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator import services
from annotator.api import serializers as s
from annotator.api.views.base import project_for
from annotator.permissions import CAPABILITIES, Can


class ProjectTextJobView(APIView):
    """Start a text-prompt job: 202 with the Job; poll /api/jobs/{id}/ (its `summary.found`
    counts the instances per phrase). Managers run it over many images; an annotator on the one
    image they hold open for editing, as proposals."""

    @extend_schema(request=s.TextJobCreateSerializer, responses={202: s.JobSerializer})
    def post(self, request: Request, pk: int) -> Response:
        project, role = project_for(request, pk, Can.ANNOTATE)
        data = s.TextJobCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        params = dict(data.validated_data)
        if Can.MANAGE not in CAPABILITIES[role]:
            _check_one_held_image(request, project.pk, role, params)
        job = services.job_create(
            project=project, kind="text", created_by=request.user, params=params
        )
        return Response(s.JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


def _check_one_held_image(request: Request, project_id: int, role: str, params: dict) -> None:
    """A labeler's Find box: proposals, on one image of this project they hold the lock of."""
    ids = params.get("image_ids") or []
    if len(ids) != 1 or params.get("status"):
        raise PermissionDenied(
            f"Your role ({role}) may run text prompts on one image (`image_ids`: [id]), the "
            "one you hold open for editing; more images need the manager role."
        )
    if params.get("mode") == "annotations":
        raise PermissionDenied(
            f"Your role ({role}) may run text prompts as proposals only; annotations mode "
            "needs the manager role."
        )
    services.text_image_held(project_id=project_id, image_id=ids[0], user=request.user)


class TextStatusView(APIView):
    """Whether text prompts can run, as the workers last reported: the engine a job would use,
    each engine's model, and why not."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: s.TextStatusSerializer})
    def get(self, request: Request) -> Response:
        return Response(s.TextStatusSerializer(services.text_status()).data)
