"""The review workflow over HTTP: decisions with comments, the record of every step, issues
pinned by reviewers and resolved by annotators. The rules live in services/review.py."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator import selectors, services
from annotator.api import serializers as s
from annotator.api.views.base import image_for
from annotator.models import Image
from annotator.permissions import Can, require


class ImageReviewView(APIView):
    """GET: the image's review record (every step, with who, when and the comment; its
    issues; the steps the caller may take now). POST: a reviewer's decision on a submitted
    image; a rejection needs a comment saying what to fix."""

    serializer_class = s.ReviewRecordSerializer

    def get(self, request: Request, pk: int) -> Response:
        image, _ = image_for(request, pk, Can.READ)
        return Response(_record(image, request))

    @extend_schema(request=s.ReviewSerializer, responses=s.ImageSerializer)
    def post(self, request: Request, pk: int) -> Response:
        image, _ = image_for(request, pk, Can.REVIEW)
        data = s.ReviewSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        to = "accepted" if v["decision"] == "accept" else "rejected"
        image = services.image_transition(
            image=image, user=request.user, to=to, comment=v["comment"]
        )
        return Response(s.ImageSerializer(image).data)


class ImageIssueListView(APIView):
    """POST: a reviewer pins an issue to a point (x, y in image pixels) or an annotation."""

    serializer_class = s.ReviewIssueSerializer

    @extend_schema(request=s.IssueCreateSerializer, responses={201: s.ReviewIssueSerializer})
    def post(self, request: Request, pk: int) -> Response:
        image, _ = image_for(request, pk, Can.REVIEW)
        data = s.IssueCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        annotation = None
        if v.get("annotation") is not None:
            annotation = selectors.annotation_list(image=image).filter(pk=v["annotation"]).first()
            if annotation is None:
                raise services.Invalid("The annotation is not on this image.")
        issue = services.issue_create(
            image=image, user=request.user, text=v["text"], x=v.get("x"), y=v.get("y"),
            annotation=annotation,
        )  # fmt: skip
        return Response(s.ReviewIssueSerializer(issue).data, status=status.HTTP_201_CREATED)


class IssueResolveView(APIView):
    """POST: the annotator marks the issue fixed (409 if it already is)."""

    serializer_class = s.ReviewIssueSerializer

    @extend_schema(request=None, responses=s.ReviewIssueSerializer)
    def post(self, request: Request, pk: int) -> Response:
        issue = selectors.issues_visible_to(user=request.user).filter(pk=pk).first()
        if issue is None:
            raise Http404("Not found.")
        require(request.user, issue.image.project_id, Can.ANNOTATE)
        issue = services.issue_resolve(issue=issue, user=request.user)
        return Response(s.ReviewIssueSerializer(issue).data)


def _record(image: Image, request: Request) -> dict[str, object]:
    return {
        "steps": services.allowed_steps(image=image, user=request.user),
        "events": s.ReviewEventSerializer(selectors.review_events(image=image), many=True).data,
        "issues": s.ReviewIssueSerializer(selectors.review_issues(image=image), many=True).data,
    }
