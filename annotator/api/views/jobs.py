"""Jobs (exports and, later, auto-annotation) and their result files."""

from __future__ import annotations

from django.http import FileResponse, Http404, HttpResponseBase
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator import selectors, services
from annotator.api import serializers as s
from annotator.api.views.base import PaginatedView, job_for, project_for
from annotator.permissions import CAPABILITIES, Can, require


class ProjectJobListView(PaginatedView):
    serializer_class = s.JobSerializer

    def get(self, request: Request, pk: int) -> Response:
        project, _ = project_for(request, pk, Can.READ)
        return self.paginated(selectors.job_list(project=project))

    @extend_schema(request=s.JobCreateSerializer, responses={202: s.JobSerializer})
    def post(self, request: Request, pk: int) -> Response:
        """Managers start any job. An annotator may start everything mode on the one image they
        hold (`image_ids`: [its id]), with lower bounds (points_per_side <= 32, no crops)."""
        # An archived project still exports (the Jobs page's dialog comes here); other kinds write.
        kind = request.data.get("kind") if isinstance(request.data, dict) else None
        project, role = project_for(request, pk, Can.READ, archived_ok=kind == "export")
        manages = Can.MANAGE in CAPABILITIES[role]
        if not manages:
            require(request.user, project, Can.ANNOTATE)
        data = s.JobCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = services.job_create(
            project=project, created_by=request.user, limited=not manages, **data.validated_data
        )
        return Response(s.JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ProjectExportView(APIView):
    """Start an export: answers 202 with the Job; poll /api/jobs/{id}/ for its result_url."""

    @extend_schema(request=s.ExportCreateSerializer, responses={202: s.JobSerializer})
    def post(self, request: Request, pk: int) -> Response:
        # An archived project's data can still leave (its settings say "reads and exports").
        project, _ = project_for(request, pk, Can.MANAGE, archived_ok=True)
        data = s.ExportCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = services.job_create(
            project=project,
            kind="export",
            created_by=request.user,
            params=dict(data.validated_data),
        )
        return Response(s.JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class JobDetailView(APIView):
    serializer_class = s.JobSerializer

    def get(self, request: Request, pk: int) -> Response:
        return Response(s.JobSerializer(job_for(request, pk, Can.READ)).data)


class JobResultView(APIView):
    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    def get(self, request: Request, pk: int) -> HttpResponseBase:
        job = job_for(request, pk, Can.READ)
        if not job.result:
            raise Http404("The job has no result (yet).")
        name = job.result.name.rsplit("/", 1)[-1]
        return FileResponse(job.result.open("rb"), as_attachment=True, filename=name)


class JobCancelView(APIView):
    """Stop a job: a pending one never starts (200, cancelled); a running one stops before its
    next image (200, running with cancel_requested); a finished one is 409."""

    @extend_schema(request=None, responses={200: s.JobSerializer})
    def post(self, request: Request, pk: int) -> Response:
        job = services.job_cancel(job=job_for(request, pk, Can.MANAGE))
        return Response(s.JobSerializer(job).data)


class JobRetryView(APIView):
    """Run a failed or cancelled job again as a new job (202; its `retry_of` is this one)."""

    @extend_schema(request=None, responses={202: s.JobSerializer})
    def post(self, request: Request, pk: int) -> Response:
        job = services.job_retry(job=job_for(request, pk, Can.MANAGE), by=request.user)
        return Response(s.JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
